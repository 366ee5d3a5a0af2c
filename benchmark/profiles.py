"""Model profiles: which model the gateway puts behind every build, read from ``benchmark/models.yaml``.

A profile names a backend (the offline scripted model, or an OpenAI-compatible upstream), the model name the
builds ask for, where the upstream's key lives (an environment variable, never the key itself) and, for
hosted models, prices for the cost column. ``--model-base-url``/``--model-name`` make an ad-hoc profile for
any other OpenAI-compatible endpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from benchmark.records import ProfileInfo

PROFILES_FILE = Path(__file__).resolve().parent / "models.yaml"
CUSTOM = "custom"


class ProfileError(ValueError):
    """A profile that cannot be used; the message says which and why."""


class ModelProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    backend: Literal["scripted", "upstream"]
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = None
    key_required: bool = False
    price_input_per_1m: float | None = Field(default=None, ge=0)
    price_output_per_1m: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _upstream_needs_url(self) -> ModelProfile:
        if self.backend == "upstream":
            if not self.base_url:
                raise ValueError("an upstream profile needs base_url")
            if not self.base_url.startswith(("http://", "https://")):
                raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        return self

    def api_key(self) -> str:
        """The upstream's key from the environment; '' when none is configured or set (local servers)."""
        if self.api_key_env is None:
            return ""
        key = os.environ.get(self.api_key_env, "")
        if not key and self.key_required:
            raise ProfileError(f"model profile '{self.name}' needs an API key: set the {self.api_key_env} variable")
        return key

    @property
    def priced(self) -> bool:
        return self.price_input_per_1m is not None and self.price_output_per_1m is not None

    def cost(self, tokens_in: int, tokens_out: int) -> float | None:
        if self.price_input_per_1m is None or self.price_output_per_1m is None:
            return None
        return (tokens_in * self.price_input_per_1m + tokens_out * self.price_output_per_1m) / 1_000_000

    def info(self) -> ProfileInfo:
        return ProfileInfo.model_validate(self.model_dump())

    @classmethod
    def from_info(cls, info: ProfileInfo) -> ModelProfile:
        """The profile a run was started with (``run.json``), for ``--resume``."""
        return cls.model_validate(info.model_dump())


def load_profiles(path: Path = PROFILES_FILE) -> tuple[str, dict[str, ModelProfile]]:
    """The default profile's name and every profile in ``path``."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: cannot read model profiles: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("profiles"), dict):
        raise ProfileError(f"{path}: expected a mapping with 'profiles'")
    profiles: dict[str, ModelProfile] = {}
    for name, body in raw["profiles"].items():
        if not isinstance(body, dict):
            raise ProfileError(f"{path}: profile '{name}' must be a mapping")
        try:
            profiles[str(name)] = ModelProfile.model_validate({**body, "name": str(name)})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or name}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            raise ProfileError(f"{path}: profile '{name}': {problems}") from None
    default = str(raw.get("default", "scripted"))
    if default not in profiles:
        raise ProfileError(f"{path}: default profile '{default}' is not defined")
    return default, profiles


def resolve_profile(
    name: str | None = None,
    *,
    base_url: str | None = None,
    model_name: str | None = None,
    api_key_env: str | None = None,
    path: Path = PROFILES_FILE,
) -> ModelProfile:
    """The profile to run with: a named one (optionally with its model or URL overridden) or an ad-hoc one.

    ``base_url`` without ``name`` makes the ``custom`` upstream profile, which then needs ``model_name``.
    """
    default, profiles = load_profiles(path)
    if name is None and base_url is not None:
        if not model_name:
            raise ProfileError("--model-base-url needs --model-name (the model the endpoint serves)")
        try:
            return ModelProfile(
                name=CUSTOM,
                backend="upstream",
                base_url=base_url,
                model=model_name,
                api_key_env=api_key_env,
                key_required=api_key_env is not None,
            )
        except ValidationError as exc:
            raise ProfileError(f"custom model endpoint: {exc.errors(include_url=False)[0]['msg']}") from None
    chosen = name or default
    if chosen not in profiles:
        raise ProfileError(f"unknown model profile '{chosen}'; known: {', '.join(sorted(profiles))} (see {path})")
    profile = profiles[chosen]
    changes: dict[str, Any] = {}
    if model_name:
        changes["model"] = model_name
    if base_url:
        if profile.backend == "scripted":
            raise ProfileError("--model-base-url cannot be combined with the scripted profile")
        changes["base_url"] = base_url
    if api_key_env:
        # Named on the command line, the variable must be set: an unset one is a mistake, not "no key".
        changes["api_key_env"] = api_key_env
        changes["key_required"] = True
    if not changes:
        return profile
    try:
        return ModelProfile.model_validate({**profile.model_dump(), **changes})
    except ValidationError as exc:
        raise ProfileError(f"profile '{chosen}': {exc.errors(include_url=False)[0]['msg']}") from None
