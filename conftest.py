import os

# Set before Django reads its settings: relaxes SECRET_KEY and selects the test Redis database.
os.environ.setdefault("LIQ_TESTING", "1")
