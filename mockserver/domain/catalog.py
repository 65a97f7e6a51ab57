"""The public price lists, built from the served models' own price tables (so a `[pricing]`
override shows in them): values, no HTTP.

Two shapes, as the vendor's current client reads them (EvoLinkAI/evolink-mcp):

- the price list of `GET /web/api/models/pricing` (`pricing-client.ts`): `{"success", "data":
  [SKU, ...]}`, one SKU per model and quality, its unit price in USD (`price_range`), in CNY
  (`cny_price`) and in the gateway's routing note ("$0.254118 per second", which the client
  reads first: it carries the unit, so a `per_call` model is still priced per second), its
  minimum charge in ten-thousandths of a credit (`min_charge_uc`);
- the catalog of `GET /v1/catalog/pricing-rules` (`catalog-client.ts`'s versioned envelope,
  `meta` with `schema_version` and `catalog_version`): one rule per model, `price_scope:
  public_default`, a `video_output` component per quality billed per `output_second` in
  credits, with its rate, its minimum charge and the exact credits of each duration.

The conversions are the client's: 1 USD = 68 credits (`CREDITS_PER_USD`), 1 USD = 6.8 CNY.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from .models import ModelProfile
from .tasks import VideoRequest
from .types import JSONObject

#: The vendor's client: "1 USD = 68 credits" (`error-handler.ts`, CREDITS_PER_USD).
CREDITS_PER_USD = 68.0
#: Its pricing client's display rate, 1 USD = 6.8 CNY: so 10 credits to the yuan.
CREDITS_PER_CNY = CREDITS_PER_USD / 6.8
#: What a price list without an account's own prices is, in the vendor's 2026-10-10 list.
PRICE_SCOPE = "public_default"
#: How long the client keeps a catalog before it asks again (`catalog-client.ts`, 5 minutes).
FRESH_FOR = 300.0
SCHEMA_VERSION = "1"


class QualityPrice(NamedTuple):
    """What one quality of a model costs: credits by duration, and per second of output."""

    quality: str
    by_duration: dict[int, float]

    @property
    def rates(self) -> list[float]:
        return [credits / seconds for seconds, credits in self.by_duration.items()]

    @property
    def min_charge(self) -> float:
        return min(self.by_duration.values())


def _number(value: float) -> float:
    """A price as the lists show it: six decimals at most, float dust gone."""
    return round(value, 6)


def _text(value: float) -> str:
    shown = repr(_number(value))
    return shown.removesuffix(".0")


def quality_prices(model: ModelProfile) -> list[QualityPrice]:
    """Each quality the model's price table lists (in the order of its frames), priced for
    each of the model's durations as a create of it would be."""
    qualities = dict.fromkeys(quality for _, quality in model.frames)
    listed = {quality for _, quality in model.pricing.table}
    prices = []
    for quality in (q for q in qualities if q in listed):
        shapes = {
            seconds: model.credits(VideoRequest(model.name, "", "", seconds, quality))
            for seconds in model.durations
        }
        prices.append(QualityPrice(quality, shapes))
    return prices


def _span(low: float, high: float, unit: str) -> str:
    return (
        f"{unit}{_text(low)}"
        if _number(low) == _number(high)
        else (f"{unit}{_text(low)}-{unit}{_text(high)}")
    )


def pricing_skus(models: Iterable[ModelProfile]) -> list[JSONObject]:
    """The SKUs of `GET /web/api/models/pricing`: one per model and quality."""
    skus = []
    for model in models:
        for price in quality_prices(model):
            low, high = min(price.rates), max(price.rates)
            usd = _span(low / CREDITS_PER_USD, high / CREDITS_PER_USD, "$")
            credits = _span(low, high, "")
            skus.append(
                {
                    "sku_id": f"{model.name}:{price.quality}",
                    "sku_name": f"{model.name} {price.quality} output",
                    "model_name": model.name,
                    "model_type": model.type,
                    "billing_rule": model.billing_rule,
                    "cny_price": _number(low / CREDITS_PER_CNY),
                    "min_charge_uc": round(price.min_charge * 10_000),
                    "price_range": {
                        "min_usd": _number(low / CREDITS_PER_USD),
                        "max_usd": _number(high / CREDITS_PER_USD),
                    },
                    "routing_note": (
                        f"Transparent Pricing: {usd} per second, {credits} credits per second."
                    ),
                }
            )
    return skus


def _parameters(model: ModelProfile, prices: list[QualityPrice]) -> JSONObject:
    """The request fields a price depends on, with the values a create takes."""
    parameters: JSONObject = {
        "duration": {"enum": list(model.durations), "default": model.defaults.get("duration")}
    }
    if "quality" in model.defaults:  # the model's page has the field
        parameters["quality"] = {
            "enum": [price.quality for price in prices],
            "default": model.defaults["quality"],
        }
    return parameters


def pricing_rules(models: Iterable[ModelProfile]) -> list[JSONObject]:
    """The rules of `GET /v1/catalog/pricing-rules`: one per model."""
    rules = []
    for model in models:
        prices = quality_prices(model)
        components: list[dict[str, Any]] = [
            {
                "name": "video_output",
                "unit": "output_second",
                "quality": price.quality,
                "rate": _number(min(price.rates)),
                "min_charge": _number(price.min_charge),
                "by_duration": {str(s): _number(c) for s, c in price.by_duration.items()},
            }
            for price in prices
        ]
        rules.append(
            {
                "model_id": model.name,
                "model_type": model.type,
                "price_scope": PRICE_SCOPE,
                "billing_rule": model.billing_rule,
                "currency": "credits",
                "components": components,
                "parameters": _parameters(model, prices),
            }
        )
    return rules


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def catalog(rules: list[JSONObject], now: float) -> JSONObject:
    """The versioned envelope of the rules, made at `now` (simulated unix seconds): its
    `catalog_version` is a digest of the rules, the same for the same prices."""
    digest = hashlib.sha256(orjson.dumps(rules, option=orjson.OPT_SORT_KEYS)).hexdigest()
    meta = {
        "schema_version": SCHEMA_VERSION,
        "catalog_version": f"mock-{digest[:12]}",
        "updated_at": _iso(now),
        "fresh_until": _iso(now + FRESH_FOR),
    }
    return {"meta": meta, "rules": rules}
