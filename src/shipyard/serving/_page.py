"""The deployment's web page (``GET /deployment``): routes, shadow, the A/B verdict and the revision history.

One self-contained HTML page (inline CSS, no script), rendered from the same status the REST route answers.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import jinja2

__all__ = ["render_deployment_page"]

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ s.deployment }} · Shipyard deployment</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#0b3d5c;color:#fff;padding:12px 24px}header h1{font-size:18px;margin:0}
main{padding:16px 24px;max-width:1100px}section{background:#fff;border:1px solid #dde1e6;border-radius:6px;
padding:12px 16px;margin-bottom:16px}h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3}
th{font-weight:600;color:#555}.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#e7edf3}
.ok{background:#d8f3dc;color:#1b5e20}.bad{background:#fde2e1;color:#8c1d18}.wait{background:#fff4d6;color:#6b4e00}
.verdict{font-size:15px;font-weight:600;margin:8px 0}.bar{height:8px;background:#0b7bc0;border-radius:4px}
.muted{color:#666}
</style></head>
<body><header><h1>Deployment {{ s.deployment }}</h1></header><main>
<section id="summary"><h2>Now serving</h2>
<p>Revision <strong id="revision">{{ s.revision.number }}</strong> · {{ s.revision.reason }}
{% if s.revision.actor %}· by {{ s.revision.actor }}{% endif %} · {{ when(s.revision.time_ms) }}
· <span class="badge {{ 'ok' if s.ready else 'bad' }}" id="ready">{{ 'ready' if s.ready else 'not ready' }}</span></p>
<table id="routes"><thead><tr><th>Route</th><th>Model</th><th>Version</th><th>Traffic</th><th></th>
<th class="num">Requests</th><th class="num">Errors</th></tr></thead><tbody>
{% for r in s.routes %}<tr data-route="{{ r.name }}"><td>{{ r.name }}</td>
<td>{{ r.model }}{% if r.follows_alias %} <span class="badge">follows alias</span>{% endif %}</td>
<td>{{ r.version }}</td><td class="num">{{ '%.1f' % (r.share * 100) }}%</td>
<td style="width:120px"><div class="bar" style="width:{{ (r.share * 100)|round(1) }}%"></div></td>
<td class="num">{{ r.requests }}</td><td class="num">{{ r.errors }}</td></tr>{% endfor %}
</tbody></table>
{% if s.shadow %}<p id="shadow">Shadow: {{ s.shadow.model }} (version {{ s.shadow.version }},
{{ '%.0f' % (s.shadow.sample * 100) }}% of requests): {{ s.shadow.requests }} predictions logged,
{{ s.shadow.errors }} errors, {{ s.shadow.skipped }} skipped.</p>{% endif %}
{% if s.sticky %}<p class="muted">Sticky assignment by header <code>{{ s.sticky }}</code>.</p>{% endif %}
{% if s.bandit %}<p class="muted">Thompson sampling on: shares between {{ s.bandit.min_weight }} and
{{ s.bandit.max_weight }}, updated every {{ s.bandit.interval_s }} s.</p>{% endif %}
</section>
{% set a = s.analysis %}
<section id="analysis"><h2>A/B analysis</h2>
{% if not a %}<p class="muted">No prediction log, so no analysis.</p>
{% else %}
<p class="verdict"><span class="badge {{ verdict_class(a.verdict) }}" id="verdict">
{{ (a.verdict or 'n/a')|replace('_', ' ') }}</span>
<span id="verdict-message">{{ a.message }}</span></p>
{% if a.variants %}<table id="variants"><thead><tr><th>Variant</th><th class="num">Labelled rows</th>
<th class="num">{{ a.metric }}</th><th>{{ '%.0f' % ((1 - a.alpha) * 100) if a.alpha else '' }}% interval</th>
</tr></thead><tbody>
{% for v in a.variants %}<tr><td>{{ v.name }}
{% if v.name == a.control %} <span class="badge">control</span>{% endif %}</td>
<td class="num">{{ v.n }}</td><td class="num">{{ num(v.mean) }}</td>
<td>{{ num(v.ci_low) }} to {{ num(v.ci_high) }}</td></tr>
{% endfor %}</tbody></table>
{% for c in a.comparisons if a.comparisons|length > 1 or c.message != a.message %}
<p>{{ c.message }} <span class="muted">(p = {{ num(c.p_value_adjusted) }}
{%- if c.more_samples_per_variant %}; about {{ c.more_samples_per_variant }} more samples per variant needed
{%- endif %})</span></p>
{% endfor %}{% endif %}{% endif %}
</section>
{% if s.prediction_log %}<section id="log"><h2>Prediction log</h2><p>{{ s.prediction_log.uri }}:
{{ s.prediction_log.written_records }} requests written, {{ s.prediction_log.queued }} queued,
<strong>{{ s.prediction_log.dropped }}</strong> dropped.</p></section>{% endif %}
<section id="history"><h2>History</h2><table><thead><tr><th>Revision</th><th>When</th><th>Why</th><th>By</th>
<th>Versions</th></tr></thead><tbody>
{% for h in s.history %}<tr><td>{{ h.number }}</td><td>{{ when(h.time_ms) }}</td><td>{{ h.reason }}</td>
<td>{{ h.actor or '' }}</td>
<td>{% for route, version in h.versions.items() %}{{ route }}={{ version }} {% endfor %}</td></tr>
{% endfor %}</tbody></table></section>
</main></body></html>
"""


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _verdict_class(verdict: str | None) -> str:
    return {"winner": "ok", "loser": "bad"}.get(verdict or "", "wait")


@cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined)
    environment.globals.update(when=_when, num=_num, verdict_class=_verdict_class)
    return environment.from_string(_TEMPLATE)


def render_deployment_page(status: dict[str, Any]) -> str:
    """The page for a status answer (``GET /v1/deployment``); every value is HTML-escaped."""
    return _template().render(s=status)
