/**
 * The live status page (`GET /status`): one self-contained HTML document (inline CSS and vanilla JS, no
 * external resources) that polls `status.json` every 2 s and renders it. The URL is relative, so the
 * browser sends the Basic-auth credentials it already gave for `/status`. Every value reaches the DOM
 * through textContent, never as markup. The script avoids backticks, `${` and backslashes so this
 * TypeScript template literal carries it unchanged.
 */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>cc-relay status</title><link rel="icon" href="data:,">
<style>
:root { color-scheme: light dark; --bg: #fafafa; --fg: #1d1d1f; --muted: #6e6e73; --line: #e3e3e6; --card: #fff;
  --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --accent: #0969da; }
@media (prefers-color-scheme: dark) { :root { --bg: #111214; --fg: #e6e6e9; --muted: #9a9aa2; --line: #2c2d31;
  --card: #1a1b1e; --ok: #3fb950; --warn: #d29922; --bad: #f85149; --accent: #58a6ff; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 1.5rem clamp(1rem, 3vw, 2.5rem); background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.4rem; margin: 0; } h1 small { color: var(--muted); font-weight: 400; font-size: .9rem; }
h2 { font-size: 1rem; margin: 1.8rem 0 .5rem; }
header { display: flex; flex-wrap: wrap; gap: .4rem 1.5rem; align-items: baseline; justify-content: space-between; }
.meta, .muted { color: var(--muted); } .meta span + span::before { content: " · "; }
.banner { margin: 1rem 0 0; padding: .6rem .9rem; border-radius: 6px; border: 1px solid; white-space: pre-wrap; }
.banner.bad { border-color: var(--bad); color: var(--bad); } .banner.warn { border-color: var(--warn); color: var(--warn); }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr)); gap: .8rem; margin-top: 1.2rem; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .7rem .9rem; }
.tile b { display: block; font-size: 1.6rem; font-variant-numeric: tabular-nums; }
.tile span { color: var(--muted); font-size: .85rem; }
.wrap { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .7rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 500; font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; }
tbody:last-child tr:last-child td, tbody:last-child td[rowspan] { border-bottom: 0; }
#providers tbody + tbody { border-top: 2px solid var(--line); } td[rowspan] { vertical-align: top; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85em; }
.state-closed, .yes { color: var(--ok); } .state-half_open { color: var(--warn); } .state-open, .no { color: var(--bad); }
.state-closed, .state-half_open, .state-open { font-weight: 600; }
.bar { width: 10rem; height: .7rem; border-radius: 4px; background: var(--line); overflow: hidden; }
.bar > div { height: 100%; background: var(--ok); } .bar.warn > div { background: var(--warn); } .bar.over > div { background: var(--bad); }
#spend-chart { padding: .6rem .9rem; } #spend-chart svg { width: 100%; height: 6rem; display: block; }
#spend-chart rect { fill: var(--accent); } #spend-chart rect.today { fill: var(--warn); }
</style></head>
<body>
<header>
  <h1>cc-relay <small id="version" data-testid="version"></small></h1>
  <div class="muted">updated <span id="last-refresh" data-testid="last-refresh">never</span></div>
</header>
<div class="meta" id="relay-meta" data-testid="relay-meta">loading…</div>
<div id="disconnected" data-testid="disconnected" class="banner bad" hidden></div>
<div id="reload-error" data-testid="reload-error" class="banner bad" hidden></div>
<div id="restart-needed" data-testid="restart-needed" class="banner warn" hidden></div>
<section class="tiles" id="traffic" data-testid="traffic">
  <div class="tile"><b id="rps" data-testid="rps">–</b><span>requests/s (last <span class="window">60</span> s)</span></div>
  <div class="tile"><b id="error-rate" data-testid="error-rate">–</b><span>error rate</span></div>
  <div class="tile"><b id="active" data-testid="active">–</b><span>active requests</span></div>
  <div class="tile"><b id="failover-count" data-testid="failover-count">–</b><span>failovers since start</span></div>
</section>
<h2>Providers</h2>
<div class="wrap"><table id="providers" data-testid="providers"><thead><tr><th>Provider</th><th>Type</th><th>Breaker</th>
  <th class="num">In-flight</th><th>Key</th><th class="num">Priority</th><th class="num">RPM</th><th class="num">TPM</th><th>Cooldown</th><th>Unusable</th><th>Available</th></tr></thead></table></div>
<h2>Team clients</h2>
<div class="wrap"><table id="clients" data-testid="clients"><thead><tr><th>Client</th><th>Group</th><th>Models</th><th class="num">Requests</th><th class="num">Errors</th><th class="num">Input</th>
  <th class="num">Output</th><th class="num">Cache read / write</th><th class="num">Cache hit</th><th class="num">Est. cost</th><th class="num">In-flight</th><th class="num">RPM</th><th class="num">TPM</th><th class="num">Max concurrent</th></tr></thead><tbody></tbody></table></div>
<h2>Signed-in users</h2>
<div class="wrap"><table id="users" data-testid="users"><thead><tr><th>Email</th><th>Name</th><th>Groups</th><th>Last seen</th>
  <th class="num">Spend (month)</th></tr></thead><tbody></tbody></table></div>
<h2>Groups</h2>
<div class="wrap"><table id="groups" data-testid="groups"><thead><tr><th>Group</th><th>Members</th><th>Models</th><th>Denied</th>
  <th class="num">In-flight</th><th class="num">RPM</th><th class="num">TPM</th><th class="num">Max concurrent</th></tr></thead><tbody></tbody></table></div>
<h2>Usage by provider and model</h2>
<div class="wrap"><table id="usage" data-testid="usage"><thead><tr><th>Provider</th><th>Model</th><th class="num">Requests</th><th class="num">Errors</th>
  <th class="num">Input</th><th class="num">Output</th><th class="num">Cache read / write</th><th class="num">Cache hit</th><th class="num">Est. cost</th></tr></thead><tbody></tbody></table></div>
<h2>Busiest sessions of the last hour</h2>
<div class="wrap"><table id="sessions" data-testid="sessions"><thead><tr><th>Session</th><th>Client</th><th class="num">Requests</th><th class="num">Input</th>
  <th class="num">Output</th><th class="num">Cache read / write</th><th class="num">Cache hit</th><th>Last seen</th></tr></thead><tbody></tbody></table></div>
<h2>Subscription logins</h2>
<div class="wrap"><table id="logins" data-testid="logins"><thead><tr><th>Login</th><th class="num">Requests</th><th class="num">Tokens</th></tr></thead><tbody></tbody></table></div>
<h2>Budgets and spend</h2>
<div class="wrap"><table id="budgets" data-testid="budgets"><thead><tr><th>Whose</th><th>Period (UTC)</th><th class="num">Spent</th><th class="num">Budget</th><th>Use</th><th>Resets</th></tr></thead><tbody></tbody></table></div>
<div class="wrap" style="margin-top:.8rem"><div id="spend-chart" data-testid="spend-chart"><span class="muted">loading…</span></div></div>
<h2>Routing rules</h2>
<div class="wrap"><table id="rules" data-testid="rules"><thead><tr><th>Rule</th><th>Providers</th><th>Model</th><th class="num">Hits</th></tr></thead><tbody></tbody></table></div>
<h2>Recent failovers</h2>
<div class="wrap"><table id="failovers" data-testid="failovers"><thead><tr><th>Time</th><th>Request</th><th>Provider</th><th>Reason</th><th>Next attempt</th></tr></thead><tbody></tbody></table></div>
<script>
"use strict";
var POLL_MS = 2000;
var $ = function (id) { return document.getElementById(id); };

// Builds an element; children are nodes or strings (strings become text nodes, never markup).
function el(tag, attrs, children) {
  var node = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, String(attrs[name])); });
  (children || []).forEach(function (c) { node.append(c instanceof Node ? c : document.createTextNode(String(c))); });
  return node;
}
function td(text, cls, field) {
  var attrs = {}; if (cls) attrs.class = cls; if (field) attrs["data-field"] = field;
  return el("td", attrs, [text]);
}
function num(n) { return Number(n).toLocaleString("en-US"); }
function limit(n) { return n > 0 ? num(n) : "∞"; }
// An unlimited window keeps no count (it costs nothing on the hot path): shown as "– / ∞".
function used(u) { return (u.limit > 0 ? num(u.used) : "–") + " / " + limit(u.limit); }
function clock(iso) { return new Date(iso).toLocaleTimeString(); }
// "3m ago", with the exact time as the cell's tooltip (last seen is recorded every few minutes).
function ago(iso) {
  var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 90 ? s + "s ago" : s < 5400 ? Math.round(s / 60) + "m ago" : s < 129600 ? Math.round(s / 3600) + "h ago" : Math.round(s / 86400) + "d ago";
}
function cost(t) {
  if (t.cost_usd === 0 && t.unpriced_requests > 0) return "—";
  var text = "$" + t.cost_usd.toFixed(4);
  return t.unpriced_requests > 0 ? text + " (+" + t.unpriced_requests + " unpriced)" : text;
}
function uptime(s) {
  var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d ? d + "d " + h + "h" : h ? h + "h " + m + "m" : m ? m + "m " + (s % 60) + "s" : s + "s";
}
function banner(id, text) { var b = $(id); b.hidden = !text; b.textContent = text || ""; }
// An empty table still says so, rather than looking broken.
function emptyRow(cols, text) { return el("tr", {}, [el("td", { colspan: cols, class: "muted" }, [text])]); }
function fillBody(tableId, rows, cols, emptyText) {
  var body = $(tableId).tBodies[0];
  body.replaceChildren.apply(body, rows.length ? rows : [emptyRow(cols, emptyText)]);
}

function renderHeader(s) {
  $("version").textContent = s.relay.version;
  var store = s.store.kind + (s.store.shared ? " (shared)" : s.store.kind === "redis" ? " (unavailable: local limits)" : "") + ", " + s.store.instances + (s.store.instances === 1 ? " instance" : " instances");
  var parts = ["up " + uptime(s.relay.uptime_s), "pid " + s.relay.pid, "config " + s.config.source,
    s.config.reloads + (s.config.reloads === 1 ? " reload" : " reloads"), "store " + store];
  $("relay-meta").replaceChildren.apply($("relay-meta"), parts.map(function (p) { return el("span", {}, [p]); }));
  banner("reload-error", s.config.last_error ? "Last reload refused (the running config stayed): " + s.config.last_error : "");
  banner("restart-needed", s.config.restart_needed.length ? "Restart needed to apply: " + s.config.restart_needed.join(", ") : "");
  $("rps").textContent = s.traffic.requests_per_s.toFixed(2);
  $("error-rate").textContent = (s.traffic.error_rate * 100).toFixed(1) + " %";
  $("active").textContent = num(s.traffic.active_requests);
  $("failover-count").textContent = num(s.traffic.failovers);
  document.querySelectorAll(".window").forEach(function (w) { w.textContent = s.traffic.window_s; });
}

function tpmText(k) {
  var text = used(k.tpm);
  if (k.itpm.limit > 0) text += " · in " + used(k.itpm);
  if (k.otpm.limit > 0) text += " · out " + used(k.otpm);
  return text;
}

function renderProviders(s) {
  var table = $("providers");
  Array.from(table.tBodies).forEach(function (b) { b.remove(); });
  if (!s.providers.length) table.append(el("tbody", {}, [emptyRow(11, "no providers")]));
  // CONTRACT §3: what authenticates a provider's requests when it has no pooled keys (status.json credentials).
  var NO_KEYS = { client: "client credentials forwarded", none: "no credential needed", sigv4: "AWS SigV4 (aws_* keys or the AWS chain)", google: "Google OAuth (key file or ADC)", bearer: "its configured bearer token", keys: "no credential: requests get 401" };
  s.providers.forEach(function (p) {
    var span = Math.max(1, p.keys.length);
    var body = el("tbody", { "data-provider": p.name });
    var breaker = p.breaker.state.replace("_", "-") + (p.breaker.open_until ? " until " + clock(p.breaker.open_until) : "");
    var head = [td(p.name + (p.enabled ? "" : " (disabled)"), "", "name"), td(p.type), td(breaker, "state-" + p.breaker.state, "breaker"), td(num(p.inflight), "num")];
    head.forEach(function (c) { c.rowSpan = span; });
    if (!p.keys.length) body.append(el("tr", {}, head.concat([el("td", { colspan: 7, class: "muted" }, ["no pooled keys: " + (NO_KEYS[p.credentials] || "see the provider type")])])));
    p.keys.forEach(function (k, i) {
      var cooldowns = (k.cooldown_until ? ["all models until " + clock(k.cooldown_until) + " (" + k.cooldown_kind + ")"] : [])
        .concat(k.model_cooldowns.map(function (c) { return c.model + " until " + clock(c.until) + " (" + c.kind + ")"; }));
      var cooldown = cooldowns.length ? cooldowns.join("; ") : "—";
      var cells = [td(k.hash, "mono", "hash"), td(k.priority, "num"), td(used(k.rpm), "num", "rpm"), td(tpmText(k), "num", "tpm"),
        td(cooldown, "", "cooldown"), td(k.unusable || "—", k.unusable ? "no" : "", "unusable"), td(k.available ? "yes" : "no", k.available ? "yes" : "no", "available")];
      body.append(el("tr", { "data-key": k.hash }, (i === 0 ? head : []).concat(cells)));
    });
    table.append(body);
  });
}

// cache_read / (input + cache_read + cache_creation), computed by the relay; null: no input yet.
function hitRate(rate) { return rate === null || rate === undefined ? "–" : (rate * 100).toFixed(1) + " %"; }

function cacheCells(t) {
  return [td(num(t.input_tokens), "num", "input"), td(num(t.output_tokens), "num", "output"),
    td(num(t.cache_read_input_tokens) + " / " + num(t.cache_creation_input_tokens), "num", "cache"), td(hitRate(t.cache_hit_rate), "num", "cache-hit")];
}

function tokenCells(t) { return cacheCells(t).concat([td(cost(t), "num", "cost")]); }

// A policy's served models: null means every model.
function models(list) {
  return list === null || list === undefined ? "every model" : list.length ? list.join(", ") : "none served";
}

function renderTables(s) {
  fillBody("clients", s.clients.map(function (c) {
    return el("tr", { "data-client": c.name }, [td(c.name === "" ? "(shared key)" : c.name, c.name === "" ? "muted" : "", "name"),
      td(c.group || "–", c.group ? "" : "muted", "group"), td(models(c.policy && c.policy.allowed), "mono", "models"),
      td(num(c.requests), "num", "requests"), td(num(c.errors), "num", "errors")].concat(tokenCells(c), [td(num(c.inflight), "num", "inflight"),
      td(used(c.rpm), "num", "rpm"), td(used(c.tpm), "num", "tpm"), td(limit(c.max_concurrent), "num", "max-concurrent")]));
  }), 14, "no requests yet");
  // null: sign-in (server.auth.sso) is off; users_error: its store did not answer this time.
  fillBody("users", (s.users || []).map(function (u) {
    var seen = td(ago(u.last_seen), "", "last-seen");
    seen.title = new Date(u.last_seen).toLocaleString();
    return el("tr", { "data-user": u.email }, [td(u.email, "", "email"), td(u.name || "–", u.name ? "" : "muted", "name"),
      td(u.groups.join(", ") || "–", u.groups.length ? "" : "muted", "groups"), seen,
      td("$" + u.spend_usd_month.toFixed(4), "num", "spend")]);
  }), 5, s.users_error ? "signed-in users unavailable: " + s.users_error : s.users ? "no signed-in users yet" : "sign-in is off (server.auth.sso)");
  fillBody("groups", (s.groups || []).map(function (g) {
    return el("tr", { "data-group": g.name }, [td(g.name, "", "name"), td(g.members.join(", ") || "–", "", "members"),
      td(models(g.allowed), "mono", "models"), td(g.deny_models.join(", ") || "–", "mono", "denied"), td(num(g.inflight), "num", "inflight"),
      td(used(g.rpm), "num", "rpm"), td(used(g.tpm), "num", "tpm"), td(limit(g.max_concurrent), "num", "max-concurrent")]);
  }), 8, "no groups (server.auth.groups)");
  fillBody("usage", s.usage.map(function (u) {
    return el("tr", { "data-provider": u.provider, "data-model": u.model }, [td(u.provider), td(u.model, "mono"),
      td(num(u.requests), "num", "requests"), td(num(u.errors), "num", "errors")].concat(tokenCells(u)));
  }), 9, "no usage yet");
  fillBody("sessions", (s.sessions || []).map(function (x) {
    return el("tr", { "data-session": x.session }, [td(x.session, "mono", "session"), td(x.client === "" ? "(shared key)" : x.client, x.client === "" ? "muted" : "", "client"),
      td(num(x.requests), "num", "requests")].concat(cacheCells(x), [td(clock(x.last_seen), "", "last-seen")]));
  }), 8, "no Claude Code sessions in the last hour");
  fillBody("logins", s.logins.map(function (l) {
    return el("tr", { "data-login": l.hash }, [td(l.hash, "mono"), td(num(l.requests), "num", "requests"), td(num(l.tokens), "num", "tokens")]);
  }), 3, "no subscription logins");
  fillBody("budgets", (s.budgets || []).map(function (b) {
    var share = b.usd > 0 ? b.spent_usd / b.usd : 1;
    var percent = Math.min(100, Math.round(share * 100));
    var bar = el("div", { class: "bar" + (share >= 1 ? " over" : share >= 0.8 ? " warn" : ""), "data-field": "bar", "data-percent": percent, title: (share * 100).toFixed(1) + " %" }, [el("div", { style: "width:" + percent + "%" })]);
    var whose = b.scope === "group_pool" ? "group " + b.group + " (pool)" : b.scope === "member" ? b.client + " in " + b.group : b.client;
    return el("tr", { "data-client": b.client, "data-group": b.group || "", "data-scope": b.scope || "client" }, [td(whose, "", "name"), td(b.period, "", "period"), td("$" + b.spent_usd.toFixed(4), "num", "spent"),
      td("$" + b.usd.toFixed(2), "num", "budget"), el("td", {}, [bar]), td(new Date(b.resets_at).toLocaleString(), "", "resets")]);
  }), 6, "no budgets (server.auth.clients[].budget, groups[].budget and member_budget)");
  renderSpendChart(s.ledger);
  fillBody("rules", (s.rules || []).map(function (r) {
    return el("tr", { "data-rule": r.name }, [td(r.name, "", "name"), td(r.providers.join(" → "), "", "providers"),
      td(r.model || "(each provider's mapping)", "mono", "model"), td(num(r.hits), "num", "hits")]);
  }), 4, "no routing rules (the strategy decides every request)");
  fillBody("failovers", s.recent_failovers.map(function (f) {
    return el("tr", { "data-request-id": f.request_id }, [td(clock(f.at), "", "time"), td(f.request_id, "mono", "request-id"),
      td(f.provider, "", "provider"), td(f.reason, "", "reason"), td(f.scope === "key" ? "next key" : "next provider", "", "scope")]);
  }), 5, "no failovers");
}

// The last 30 UTC days of spend, every client together: one bar per day, drawn as inline SVG.
function renderSpendChart(ledger) {
  var box = $("spend-chart");
  if (!ledger) { box.replaceChildren(el("span", { class: "muted" }, ["no usage ledger"])); return; }
  var NS = "http://www.w3.org/2000/svg", days = ledger.daily, width = 300, height = 60, gap = 2;
  var most = Math.max.apply(null, days.map(function (d) { return d.cost_usd; }).concat([0]));
  var svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  var step = width / Math.max(1, days.length);
  days.forEach(function (d, i) {
    var h = most > 0 ? Math.max(d.cost_usd > 0 ? 1 : 0, d.cost_usd / most * height) : 0;
    var rect = document.createElementNS(NS, "rect");
    rect.setAttribute("x", String(i * step + gap / 2));
    rect.setAttribute("y", String(height - h));
    rect.setAttribute("width", String(Math.max(1, step - gap)));
    rect.setAttribute("height", String(h));
    rect.setAttribute("data-day", d.day);
    rect.setAttribute("data-cost", String(d.cost_usd));
    if (i === days.length - 1) rect.setAttribute("class", "today");
    var title = document.createElementNS(NS, "title");
    title.textContent = d.day + ": $" + d.cost_usd.toFixed(4);
    rect.append(title);
    svg.append(rect);
  });
  var total = days.reduce(function (sum, d) { return sum + d.cost_usd; }, 0);
  var caption = el("div", { class: "muted", "data-field": "caption" }, ["spend per UTC day, last " + days.length + " days: $" + total.toFixed(4) + " (" + ledger.store + ")"]);
  box.replaceChildren(svg, caption);
}

async function refresh() {
  try {
    var res = await fetch("status.json", { cache: "no-store", credentials: "same-origin" });
    if (!res.ok) throw new Error(res.status === 401 || res.status === 403 ? "HTTP " + res.status + ": admin key needed" : "HTTP " + res.status);
    var s = await res.json();
    renderHeader(s); renderProviders(s); renderTables(s);
    var now = new Date();
    $("last-refresh").textContent = now.toLocaleTimeString();
    $("last-refresh").setAttribute("data-at", now.toISOString());
    banner("disconnected", "");
  } catch (err) {
    // The last data stays on screen; the banner says it is stale.
    banner("disconnected", "disconnected — retrying (" + (err && err.message ? err.message : err) + ")");
  } finally {
    setTimeout(refresh, POLL_MS);
  }
}
refresh();
</script>
</body></html>
`
