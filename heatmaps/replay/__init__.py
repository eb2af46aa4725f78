"""The offline demo: the bundled sample replayed as a live market.

``tape`` plays the sample endlessly (pure numpy), ``server`` serves it as a Binance stand-in on
127.0.0.1 (REST and websockets, the documented formats), ``sample`` prepares the sample assets' history
to end where the replay begins. The platform's own connectors, stream process and ingest tasks read it.
"""
