"""Deployment specs: which model versions a deployment serves, with what share of traffic, and how it is analysed.

A spec is YAML (or JSON, which is YAML) that `shipyard serve spec.yaml` starts from and `shipyard deployments
apply` changes on a running server::

    name: churn
    routes:
      - name: champion
        model: models:/churn@champion     # follows the alias: a move is served blue-green
        weight: 95
      - name: challenger
        model: models:/churn/7
        weight: 5                         # a 5% canary
    shadow:
      model: models:/churn@candidate      # gets a copy of each request; its answers are logged, never returned
    sticky:
      header: X-User-Id                   # one user always sees the same variant
    analysis:
      metric: accuracy                    # from posted ground truth (POST /v1/feedback)
      control: champion
    bandit:
      enabled: false                      # Thompson sampling within [min_weight, max_weight]

Validation happens here, once, with messages that name the field (``routes[1].weight: must be >= 0``), so a
bad spec is refused before anything is loaded and the running deployment is left as it was.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shipyard._specs import read_spec_file, spec_mapping
from shipyard.errors import InvalidParameter
from shipyard.registry.uris import follows_alias, is_model_uri

__all__ = [
    "AnalysisSpec",
    "BanditSpec",
    "DeploymentSpec",
    "RouteSpec",
    "ShadowSpec",
    "StickySpec",
    "load_spec",
    "parse_spec",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")

Metric = Literal["accuracy", "absolute_error", "squared_error", "label"]
"""What the A/B analysis compares: ``accuracy`` (prediction equals the posted label, two proportions),
``absolute_error``/``squared_error`` (numeric label vs prediction, Welch's t, lower is better), or ``label`` (the
mean of the posted value itself, e.g. a conversion 0/1 or revenue: proportions when every value is 0 or 1)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{what} {value[:80]!r} must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return value


def _check_model(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must name a model: models:/name/version, models:/name@alias, runs:/… or a folder")
    if "\x00" in value or len(value) > 1024:
        raise ValueError("is not a valid model URI or folder")
    return value


class RouteSpec(_Strict):
    """One variant: a model and its share of traffic.

    Attributes:
        name: the variant's name (in status, metrics and the prediction log).
        model: ``models:/name/3`` (pinned), ``models:/name@alias`` (followed: a move is a blue-green switch),
            ``runs:/…`` or a local model folder.
        weight: the share of traffic, relative to the other routes' weights (0 takes the route out of rotation
            while keeping it loaded).
    """

    name: str
    model: str
    weight: float = Field(default=1.0, ge=0, allow_inf_nan=False)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value, "route name")

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        return _check_model(value)

    @property
    def follows_alias(self) -> bool:
        """Whether the route follows a registry alias (``models:/name@alias``)."""
        return follows_alias(self.model)


class ShadowSpec(_Strict):
    """A model that sees a copy of the traffic: its predictions are logged, never returned.

    Attributes:
        model: as in :class:`RouteSpec`.
        sample: the share of requests copied to it (1.0: every request).
    """

    model: str
    sample: float = Field(default=1.0, gt=0, le=1, allow_inf_nan=False)

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        return _check_model(value)


class StickySpec(_Strict):
    """Sticky assignment: requests with the same key always go to the same variant (while the weights hold).

    Attributes:
        header: the request header holding the key (a user or session id). Requests without it are assigned
            at random.
    """

    header: str = "X-Shipyard-Key"

    @field_validator("header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9\-]{1,64}", value):
            raise ValueError(f"{value[:80]!r} is not an HTTP header name (letters, digits and '-')")
        return value.lower()


class AnalysisSpec(_Strict):
    """How the variants are compared.

    Attributes:
        metric: see :data:`Metric`.
        control: the route the others are compared with (default: the first route).
        alpha: the significance level of the tests (two-sided).
        power: the power the sample-size estimate aims for.
        min_samples: labelled predictions each variant needs before any verdict.
    """

    metric: Metric = "accuracy"
    control: str | None = None
    alpha: float = Field(default=0.05, gt=0, lt=1)
    power: float = Field(default=0.8, gt=0, lt=1)
    min_samples: int = Field(default=100, ge=2)


class BanditSpec(_Strict):
    """Thompson sampling: traffic shifts toward the variant most likely to be best, within bounds.

    Attributes:
        enabled: off by default; when on, the routes' weights are only the starting split.
        min_weight: the least share any route keeps (so the analysis keeps learning about it).
        max_weight: the most share any route gets.
        interval_s: how often the weights are recomputed from the labelled predictions.
    """

    enabled: bool = False
    min_weight: float = Field(default=0.05, ge=0, le=1)
    max_weight: float = Field(default=0.95, gt=0, le=1)
    interval_s: float = Field(default=30.0, ge=1)


class DeploymentSpec(_Strict):
    """A deployment: its routes (variants), an optional shadow, sticky assignment, analysis and bandit settings.

    Attributes:
        name: the deployment's name: the model name in the v2 routes, the key of its permissions and of its log.
        routes: one or more variants; weights are relative.
        shadow: an optional shadow model.
        sticky: sticky assignment by a request header, or None for random assignment per request.
        analysis: how the variants are compared.
        bandit: optional Thompson sampling.
    """

    name: str
    routes: list[RouteSpec] = Field(min_length=1, max_length=16)
    shadow: ShadowSpec | None = None
    sticky: StickySpec | None = None
    analysis: AnalysisSpec = AnalysisSpec()
    bandit: BanditSpec = BanditSpec()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value, "deployment name")

    @model_validator(mode="after")
    def _consistent(self) -> DeploymentSpec:
        names = [route.name for route in self.routes]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"route names must be unique; repeated: {', '.join(duplicates)}")
        if sum(route.weight for route in self.routes) <= 0:
            raise ValueError("at least one route needs a weight above 0")
        if self.analysis.control is not None and self.analysis.control not in names:
            raise ValueError(f"analysis.control {self.analysis.control!r} is not a route; routes: {', '.join(names)}")
        if self.bandit.enabled:
            k = len(self.routes)
            if self.bandit.min_weight > self.bandit.max_weight:
                raise ValueError("bandit.min_weight must not exceed bandit.max_weight")
            if self.bandit.min_weight * k > 1 or self.bandit.max_weight * k < 1:
                raise ValueError(
                    f"bandit bounds [{self.bandit.min_weight}, {self.bandit.max_weight}] cannot hold for {k} routes "
                    "(min_weight x routes must be <= 1 <= max_weight x routes)"
                )
        return self

    @property
    def control(self) -> str:
        """The route the analysis compares the others with."""
        return self.analysis.control or self.routes[0].name

    def route(self, name: str) -> RouteSpec:
        """The route named ``name``."""
        for route in self.routes:
            if route.name == name:
                return route
        raise InvalidParameter(f"Deployment {self.name!r} has no route {name!r}.")

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON-ready data (what :func:`parse_spec` reads back)."""
        return self.model_dump(mode="json")


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors()[:10]:
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"]).lstrip(".")
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


def parse_spec(data: str | bytes | dict[str, Any], *, source: str = "the deployment spec") -> DeploymentSpec:
    """Parse and validate a spec from YAML/JSON text or already-parsed data.

    Raises:
        InvalidParameter: the text is not YAML, is too large, or the spec is invalid; the message names each
            problem with its field (``routes[1].weight: Input should be greater than or equal to 0``).

    Example:
        >>> spec = parse_spec("name: churn\\nroutes: [{name: main, model: 'models:/churn@champion'}]")
        >>> spec.routes[0].follows_alias
        True
    """
    if isinstance(data, (str, bytes)):
        data = dict(spec_mapping(data, source=source, expected="'name' and 'routes'"))
    if not isinstance(data, dict):
        raise InvalidParameter(f"{source} must be a mapping with 'name' and 'routes'.")
    try:
        return DeploymentSpec.model_validate(data)
    except ValidationError as exc:
        raise InvalidParameter(f"Invalid {source}: {_describe(exc)}") from None


def load_spec(path: str | Path) -> DeploymentSpec:
    """Read and validate the spec file at ``path``."""
    file = Path(path)
    text = read_spec_file(file, what="deployment spec")
    return parse_spec(text, source=f"deployment spec {file.name!r}")


def is_spec_file(text: str) -> bool:
    """Whether a ``shipyard serve`` argument names a spec file rather than a model URI or folder."""
    return not is_model_uri(text) and text.endswith((".yaml", ".yml", ".json")) and Path(text).is_file()
