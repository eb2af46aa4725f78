"""Which model draws a map: v1, v2, v2 with parameters given in the URL, or a user's personal model.

The market side never imports the user side, so personal models reach the maps through a hook
(heatmaps/personal_hook.py, where its contract is written): ``model=mine:<id>`` is resolved through it.

The choice itself (``resolve_model``) is one of

* ``v1`` (the default) and ``v2``: the stored maps of every timeframe;
* ``custom``: model v2 with the parameters in the URL (``mp=5:0.1:720,10:0.25:336`` as leverage:weight:
  half-life in hours per tier, ``never`` for a tier whose positions never fade; ``mmr=0.004``; optionally
  ``maxlev=50``, the leverage ceiling, else the asset's), so a link reproduces the map for anyone who opens it;
* ``mine:<id>``: a signed-in user's own model. Its map is computed and cached by its parameters, exactly
  like a custom map with the same parameters (one cache entry, whoever asks).

An unknown or malformed model is ``FilterError("model" | "mp" | "mmr" | "maxlev", ...)``: the API answers 400 naming
the parameter, a page shows the message and draws model v1. Someone else's ``mine:<id>`` is refused
with the very words of an unknown id.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from heatmaps.explorer import FilterError
from heatmaps.maps import default_v2_params
from heatmaps.models import Asset
from heatmaps.personal_hook import PersonalModelSpec, personal_model, signed_in

if TYPE_CHECKING:
    from heatmaps.engine.model_v2 import ModelV2Params


MODELS = ("v1", "v2", "custom", "mine:<id>")
STORED_MODELS = ("v1", "v2")
MAX_CUSTOM_TIERS = 12
# The URL parameters that carry a custom model's values, beside ``model``.
CUSTOM_KEYS = ("mp", "mmr", "maxlev")
# A half-life that never ends, as a link may spell it (``custom_query`` writes "never").
_NEVER = frozenset({"never", "inf", "infinity", "\u221e"})


def custom_text(source: Mapping[str, Any]) -> dict[str, str | None]:
    """The raw custom-model values (``mp``, ``mmr``, ``maxlev``) of a query, for ``resolve_model``."""
    return {key: source.get(key) for key in CUSTOM_KEYS}


@dataclass(frozen=True)
class ModelChoice:
    """The model a map is drawn with. ``key`` identifies the map (never the user): "v1", "v2",
    "custom:<params hash>", "mine:<id>"; ``params`` is None for v1 (the asset's stored parameters)."""

    key: str
    label: str  # for titles, exports and the switcher
    params: ModelV2Params | None = None
    stored: bool = True  # served from a stored map (v1, v2); else computed on request
    personal: bool = False  # a user's own model: never in a shared cache of whole pages or bodies
    personal_id: int | None = None

    @property
    def version(self) -> str:
        return "v1" if self.params is None else "v2"

    @property
    def cache_part(self) -> str:
        """What a computed map is cached by: the parameters, so a shared link and the owner's own
        ``mine:<id>`` with the same parameters are one entry."""
        if self.params is None:
            return "v1"
        return f"v2:{self.params.cache_key()}"

    def query(self) -> dict[str, str]:
        """URL parameters that reproduce the choice (none for the default, v1)."""
        if self.key == "v1":
            return {}
        if self.personal:
            return {"model": f"mine:{self.personal_id}"}
        if not self.stored and self.params is not None:
            return {"model": "custom", **custom_query(self.params)}
        return {"model": self.key}

    def shareable_query(self) -> dict[str, str]:
        """As ``query``, but a personal model by its parameters: a link anyone can open."""
        if self.personal and self.params is not None:
            return {"model": "custom", **custom_query(self.params)}
        return self.query()


V1 = ModelChoice(key="v1", label="model v1")


def _fmt(value: float) -> str:
    """The shortest text that reads back as the same float (so a link never rounds a model), "never"
    for an endless half-life, without a trailing ".0"."""
    if value == math.inf:
        return "never"
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def custom_query(params: ModelV2Params) -> dict[str, str]:
    """Model-v2 parameters as the URL's compact form: ``mp`` (leverage:weight:half-life hours per tier,
    "never" for a tier that never fades), ``mmr`` and, when the parameters have one, ``maxlev``."""
    tiers = ",".join(f"{_fmt(t.leverage)}:{_fmt(t.weight)}:{_fmt(t.half_life_hours)}" for t in params.tiers)
    query = {"mp": tiers, "mmr": _fmt(params.mmr)}
    if params.max_leverage is not None:
        query["maxlev"] = _fmt(params.max_leverage)
    return query


def _half_life(text: str) -> float:
    word = text.strip().rstrip("hH").strip().lower()
    return math.inf if word in _NEVER else float(word)


def parse_custom(*, asset: Asset, mp: str | None, mmr: str | None, maxlev: str | None = None) -> ModelV2Params:
    """``mp``/``mmr``/``maxlev`` over the asset's model-v2 defaults (its grid, its venues' maximum leverage),
    validated."""
    from heatmaps.engine.model_v2 import TierV2

    base = default_v2_params(asset)
    changes: dict[str, Any] = {}
    if mp is not None and mp.strip():
        tiers = []
        parts = [p.strip() for p in mp.split(",") if p.strip()]
        if len(parts) > MAX_CUSTOM_TIERS:
            raise FilterError("mp", f"At most {MAX_CUSTOM_TIERS} tiers.")
        for part in parts:
            fields = part.split(":")
            try:
                if len(fields) != 3:
                    raise ValueError
                lev, weight = (float(f.strip().rstrip("xX")) for f in fields[:2])
                half_life = _half_life(fields[2])
            except ValueError:
                raise FilterError(
                    "mp",
                    f"Tier {part[:30]!r} is not leverage:weight:half-life hours (or never), e.g. 10:0.25:336.",
                ) from None
            if not all(math.isfinite(v) for v in (lev, weight)) or math.isnan(half_life):
                raise FilterError("mp", f"Tier {part[:30]!r} has a value that is not a finite number.")
            tiers.append(TierV2(leverage=lev, weight=weight, half_life_hours=half_life))
        changes["tiers"] = tuple(tiers)
    elif mmr is None and maxlev is None:
        raise FilterError("mp", "model=custom needs its tiers in mp (leverage:weight:half-life hours, ...).")
    if mmr is not None and mmr.strip():
        try:
            changes["mmr"] = float(mmr)
        except ValueError:
            raise FilterError(
                "mmr", f"mmr {mmr[:20]!r} is not a number (a maintenance margin rate, e.g. 0.004)."
            ) from None
        if not math.isfinite(changes["mmr"]):
            raise FilterError("mmr", "mmr must be a finite number.")
    if maxlev is not None and maxlev.strip():
        try:
            changes["max_leverage"] = float(maxlev.strip().rstrip("xX"))
        except ValueError:
            raise FilterError(
                "maxlev", f"maxlev {maxlev[:20]!r} is not a number (the leverage ceiling, e.g. 50)."
            ) from None
        if not math.isfinite(changes["max_leverage"]):
            raise FilterError("maxlev", "maxlev must be a finite number.")
    params = dataclasses.replace(base, **changes)
    try:
        params.validate()
    except ValueError as exc:
        problem = str(exc)
        if "max_leverage" in changes and problem.startswith("max_leverage"):
            raise FilterError("maxlev", f"This leverage ceiling cannot be used: {problem}") from None
        param = "mmr" if "mmr" in changes and problem.startswith("mmr") else "mp"
        raise FilterError(param, f"These model parameters cannot be used: {exc}") from None
    return params


def _personal_label(spec: PersonalModelSpec) -> str:
    return f"my model \u201c{spec.name}\u201d"


def resolve_model(
    *,
    asset: Asset,
    model: str | None,
    custom_params_text: Mapping[str, str | None] | None = None,
    user: Any = None,
) -> ModelChoice:
    """The model a request asks for; ``FilterError`` naming ``model``, ``mp`` or ``mmr`` when it cannot
    be drawn. ``custom_params_text`` holds the raw ``mp``, ``mmr`` and ``maxlev`` values (``custom_text``)."""
    raw = (model or "").strip()
    text = custom_params_text or {}
    key = raw.lower()
    if key in ("", "v1"):
        return V1
    if key == "v2":
        params = default_v2_params(asset)
        return ModelChoice(key="v2", label="model v2", params=params)
    if key == "custom":
        params = parse_custom(asset=asset, mp=text.get("mp"), mmr=text.get("mmr"), maxlev=text.get("maxlev"))
        return ModelChoice(key=f"custom:{params.cache_key()}", label="custom model v2", params=params, stored=False)
    if key.startswith("mine:"):
        ident = key.partition(":")[2]
        unknown = FilterError("model", f"You have no model {ident[:20]!r}; choose one of your models.")
        if not ident.isdigit() or not 0 < int(ident) < 2**63:
            raise unknown
        if not signed_in(user):
            raise FilterError("model", "Sign in to draw a map with one of your models.")
        spec = personal_model(user=user, model_id=int(ident))
        if spec is None:
            raise unknown
        # The user's own parameters lack the grid: the asset's bins and padding, as for every map of it.
        base = default_v2_params(asset)
        ceiling = getattr(spec.params, "max_leverage", None)
        params = dataclasses.replace(
            spec.params,
            n_bins=base.n_bins,
            pad=base.pad,
            max_leverage=base.max_leverage if ceiling is None else ceiling,
        )
        try:
            params.validate()
        except ValueError as exc:
            raise FilterError("model", f"Your model {spec.name!r} cannot be used: {exc}") from None
        return ModelChoice(
            key=f"mine:{spec.id}",
            label=_personal_label(spec),
            params=params,
            stored=False,
            personal=True,
            personal_id=spec.id,
        )
    raise FilterError(
        "model", f"Unknown model {raw[:20]!r}; choose v1, v2, custom (with mp, mmr, maxlev) or mine:<id>."
    )


_SWEEP_WORDS = {
    "mark": "swept on mark price",
    "last": "swept on last price",
    "mixed": "swept on mark price where recorded, last price elsewhere",
}


def sweep_words(params: dict[str, Any] | None) -> str | None:
    """Which price swept a v2 map's positions, in words (None for a v1 map)."""
    return _SWEEP_WORDS.get(str((params or {}).get("sweep_price")))


def map_label(choice: ModelChoice, heatmap: Any) -> str:
    """The model as a map's title says it: "model v2 · swept on mark price"."""
    if choice.params is None:
        return choice.label
    sweep = sweep_words(heatmap.params)
    return f"{choice.label} · {sweep}" if sweep else choice.label


def stored_model(choice: ModelChoice) -> str:
    """The stored map a choice is drawn from: v2's own rows for v2; every computed model starts from
    v1's row (the newest run of bars: a custom map never trails)."""
    return "v2" if choice.key == "v2" else "v1"


def computed_params(choice: ModelChoice) -> ModelV2Params | None:
    """The parameters to compute with on request: None when the stored row's own run is drawn."""
    return choice.params if not choice.stored else None
