"""Render docs/config.md from the settings model: ``python -m ostiary.settings_doc``.

The model is the single source of the configuration reference; a test checks that the
committed file is current.
"""

from __future__ import annotations

from pydantic import BaseModel

from ostiary.settings import Settings


def _rows(
    model: type[BaseModel], prefix: str, section: str, defaults: BaseModel | None = None
) -> list[str]:
    """``defaults``: the section's default value, when it is not the model's own defaults
    (one model for several sections, e.g. each group of ``rate_limits``)."""
    rows = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if defaults is not None:
            default = getattr(defaults, name)
        else:
            default = field.get_default(call_default_factory=True)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            given = default if isinstance(default, BaseModel) else None
            rows += _rows(annotation, f"{prefix}{name.upper()}__", f"{section}{name}.", given)
            continue
        shown = "(none)" if default is None else f"`{default}`"
        env = f"{prefix}{name.upper()}"
        rows.append(f"| `{env}` | `{section}{name}` | {shown} | {field.description or ''} |")
    return rows


def render() -> str:
    lines = [
        "# Configuration",
        "",
        "Generated from `ostiary.settings` by `python -m ostiary.settings_doc`; do not edit.",
        "",
        "Settings come from environment variables, or from a TOML file named by",
        "`OSTIARY_CONFIG` (tables for the nested sections, e.g. `[tokens]`). Environment",
        "variables win over the file. Invalid values stop the server at start-up with a",
        "message naming the setting.",
        "",
        "| environment variable | TOML key | default | meaning |",
        "|---|---|---|---|",
        *_rows(Settings, "OSTIARY_", ""),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
