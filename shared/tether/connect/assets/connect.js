/* The hosted Connect page: one end user connects, tests, reconnects and removes their accounts.

   Hand-written, dependency-free JavaScript: the page is a few forms and lists, which the DOM
   handles without a framework, a build step or a CDN, and it stays well inside its weight
   budget. It runs under a strict Content-Security-Policy (scripts and styles of this origin
   only, no inline code), so nothing here builds HTML from strings: every node is created and
   its text set as text.

   The session token arrives in the URL's fragment (never sent to a server), is kept in this
   tab's sessionStorage and removed from the address bar at once. */
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };
  var FN = JSON.parse(document.documentElement.getAttribute("data-functions") || "{}");
  var params = new URLSearchParams(location.search);
  var sessionId = params.get("session") || "";
  var storeKey = "tether-connect:" + sessionId;
  var state = { token: null, session: null, catalog: [], connections: [], setup: null };

  /* ---------- the OAuth window coming back ---------- */
  var oauthReturn = params.get("oauth") === "1" && (params.has("connection_id") || params.has("error"));
  var oauthOutcome = oauthReturn ? {
    connection_id: params.get("connection_id"), status: params.get("status"),
    error: params.get("error"), message: params.get("message")
  } : null;
  if (oauthReturn && window.opener && window.opener !== window) {
    try {
      window.opener.postMessage({ source: "tether-connect-oauth", outcome: oauthOutcome }, location.origin);
    } catch (e) { /* the opener went away: fall through to the page */ }
    history.replaceState(null, "", location.pathname);
    document.addEventListener("DOMContentLoaded", function () {
      $("loading").textContent = oauthOutcome.error ? "Sign-in did not finish. You can close this window." : "Connected. You can close this window.";
    });
    window.close();
    return;
  }

  /* ---------- the token: from the fragment, then out of the URL ---------- */
  var fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    try { sessionStorage.setItem(storeKey, fragment.get("token")); } catch (e) { /* private mode */ }
    state.token = fragment.get("token");
  } else {
    try { state.token = sessionStorage.getItem(storeKey); } catch (e) { state.token = null; }
  }
  var embedded = params.get("embed") === "1";
  var hostOrigin = embedded ? params.get("origin") || "" : "";
  var host = embedded ? (window.parent !== window ? window.parent : window.opener) : null;
  var keep = new URLSearchParams();
  keep.set("session", sessionId);
  if (embedded) { keep.set("embed", "1"); keep.set("origin", hostOrigin); }
  history.replaceState(null, "", location.pathname + "?" + keep.toString());

  /* ---------- small DOM helpers ---------- */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k === "on") Object.keys(v).forEach(function (ev) { node.addEventListener(ev, v[ev]); });
      else node.setAttribute(k, v === true ? "" : v);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function show(name) {
    ["catalog", "setup", "connections"].forEach(function (v) {
      $("view-" + v).hidden = name === "setup" ? v !== "setup" : v === "setup";
    });
  }
  function notice(text, kind) {
    var box = $("notice");
    box.textContent = text || "";
    box.className = "notice" + (kind ? " " + kind : "");
    box.hidden = !text;
  }
  function when(iso) {
    try { return new Date(iso).toLocaleString(); } catch (e) { return iso; }
  }

  /* ---------- events to the embedding page ---------- */
  function allowedHost() {
    return embedded && host && state.session && state.session.allowed_origins.indexOf(hostOrigin) >= 0;
  }
  function emit(type, data) {
    if (!allowedHost()) return;
    var message = { source: "tether-connect", type: type };
    Object.keys(data || {}).forEach(function (k) { message[k] = data[k]; });
    host.postMessage(message, hostOrigin);
  }

  /* ---------- the API ---------- */
  var ENDED = {
    SESSION_EXPIRED: "This session has expired. Go back to the app and open it again.",
    SESSION_REVOKED: "This session was ended. Go back to the app and open it again.",
    INVALID_SESSION: "This link is not valid. Go back to the app and open it again.",
    MISSING_TOKEN: "This link is incomplete. Go back to the app and open it again."
  };
  function ended(code) {
    ["catalog", "setup", "connections"].forEach(function (v) { $("view-" + v).hidden = true; });
    $("loading").hidden = true;
    notice(ENDED[code] || ENDED.INVALID_SESSION, "bad");
    try { sessionStorage.removeItem(storeKey); } catch (e) { /* nothing kept */ }
    emit("error", { code: code || "INVALID_SESSION" });
  }
  function api(fn, path, options) {
    var opts = options || {};
    var headers = { Authorization: "Bearer " + state.token };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(FN[fn] + (path || ""), {
      method: opts.method || "GET",
      headers: headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      credentials: "include",
      cache: "no-store"
    }).then(function (res) {
      if (res.status === 204) return null;
      return res.json().catch(function () { return null; }).then(function (data) {
        if (res.ok) return data;
        var err = new Error((data && data.error && data.error.message) || "The request failed (" + res.status + ").");
        err.code = data && data.error && data.error.code;
        err.status = res.status;
        if (res.status === 401) ended(err.code);
        throw err;
      });
    });
  }
  function failed(err) {
    if (err && err.status === 401) return;
    notice(err && err.message ? err.message : "Something went wrong. Try again.", "bad");
  }

  /* ---------- the catalog ---------- */
  var AUTH_LABELS = { api_key: "API key", oauth2: "Sign in", basic: "User name and password",
    bearer: "Token", none: "No sign-in", oauth2_client_credentials: "Client credentials", database: "Database login" };
  function authLabel(mode) { return AUTH_LABELS[mode] || mode; }
  function offered(p) {
    var allowed = state.session.allowed_providers;
    return !allowed || allowed.indexOf(p.key) >= 0;
  }
  function fillFilter(select, values, label) {
    values.sort().forEach(function (v) { select.appendChild(el("option", { value: v, text: label ? label(v) : v })); });
  }
  function loadCatalog() {
    return api("catalog", "").then(function (data) {
      state.catalog = data.providers.filter(offered);
      var cats = {}, regions = {}, modes = {};
      state.catalog.forEach(function (p) {
        p.categories.forEach(function (c) { cats[c] = 1; });
        p.regions.forEach(function (r) { regions[r] = 1; });
        modes[p.auth_mode] = 1;
      });
      fillFilter($("category"), Object.keys(cats));
      fillFilter($("region"), Object.keys(regions));
      fillFilter($("auth_mode"), Object.keys(modes), authLabel);
      renderProviders(state.catalog);
    });
  }
  var searchTimer = null;
  function search() {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () {
      var q = new URLSearchParams();
      ["q", "category", "region", "auth_mode"].forEach(function (id) {
        var v = $(id).value.trim();
        if (v) q.set(id, v);
      });
      api("catalog", q.toString() ? "?" + q.toString() : "").then(function (data) {
        renderProviders(data.providers.filter(offered));
      }).catch(failed);
    }, 120);
  }
  function renderProviders(list) {
    var ul = clear($("providers"));
    $("result-count").textContent = list.length === 1 ? "1 service" : list.length + " services";
    list.forEach(function (p) {
      ul.appendChild(el("li", null, el("button", {
        type: "button", "data-provider": p.key,
        on: { click: function () { startSetup(p.key, null); } }
      }, el("strong", { text: p.display_name }), el("span", { text: p.description }),
        el("span", { text: authLabel(p.auth_mode) }))));
    });
  }

  /* ---------- the guided setup ---------- */
  function fieldsOf(schema, section, mode, reconnect) {
    var props = (schema && schema.properties) || {};
    var required = (schema && schema.required) || [];
    var fields = [];
    Object.keys(props).forEach(function (name) {
      var s = props[name];
      if (s.type === "object" || s.type === "array") return; // advanced: the API takes them
      var isRequired = required.indexOf(name) >= 0;
      // OAuth providers: the server fills defaulted settings; ask only what it cannot.
      if (section === "config" && (reconnect || (mode === "oauth2" && s.default !== undefined))) return;
      fields.push({ section: section, name: name, schema: s, required: isRequired });
    });
    return fields;
  }
  function stepsOf(fields) {
    var steps = fields.filter(function (f) { return f.required; }).map(function (f) { return [f]; });
    var optional = fields.filter(function (f) { return !f.required; });
    if (optional.length) steps.push(optional);
    return steps;
  }
  function startSetup(key, connection) {
    notice("");
    api("catalog", encodeURIComponent(key)).then(function (provider) {
      var reconnect = !!connection;
      var fields = fieldsOf(provider.config_schema, "config", provider.auth_mode, reconnect)
        .concat(provider.auth_mode === "oauth2" && reconnect ? [] : fieldsOf(provider.credentials_schema, "credentials", provider.auth_mode, reconnect));
      state.setup = {
        provider: provider, connection: connection, steps: stepsOf(fields), index: 0,
        values: { config: {}, credentials: {} }, touched: {}, tested: null
      };
      $("setup-title").textContent = (reconnect ? "Reconnect " : "Connect ") + provider.display_name;
      $("setup-description").textContent = provider.description || "";
      show("setup");
      if (provider.auth_mode === "oauth2" && !state.setup.steps.length) renderOAuthStep();
      else renderStep();
      $("setup-title").focus();
    }).catch(failed);
  }
  function inputType(f) {
    var s = f.schema;
    if (f.section === "credentials" || s.writeOnly || s.format === "password") return "password";
    if (s.type === "integer" || s.type === "number") return "number";
    if (s.format === "email") return "email";
    if (s.format === "uri" || s.format === "url") return "url";
    return "text";
  }
  function fieldId(f) { return "f-" + f.section + "-" + f.name; }
  function renderField(f) {
    var s = f.schema, id = fieldId(f), setup = state.setup;
    var current = setup.values[f.section][f.name];
    if (current === undefined && s.default !== undefined && f.section === "config") current = s.default;
    var hint = s.description ? el("p", { id: id + "-hint", class: "hint", text: s.description }) : null;
    var error = el("p", { id: id + "-error", class: "error", "aria-live": "polite" });
    var described = (hint ? id + "-hint " : "") + id + "-error";
    var input;
    if (s.enum) {
      input = el("select", { id: id, name: f.name, "aria-describedby": described, "aria-required": f.required ? "true" : null });
      if (!f.required) input.appendChild(el("option", { value: "", text: "—" }));
      s.enum.forEach(function (v) { input.appendChild(el("option", { value: String(v), text: String(v) })); });
      if (current !== undefined) input.value = String(current);
    } else if (s.type === "boolean") {
      input = el("input", { id: id, name: f.name, type: "checkbox", "aria-describedby": described });
      input.checked = current === true;
    } else {
      var type = inputType(f);
      input = el("input", {
        id: id, name: f.name, type: type, "aria-describedby": described,
        "aria-required": f.required ? "true" : null,
        autocomplete: type === "password" ? "new-password" : "off", spellcheck: "false",
        inputmode: s.type === "integer" ? "numeric" : null,
        placeholder: s.examples && s.examples.length ? String(s.examples[0]) : null
      });
      if (current !== undefined) input.value = String(current);
    }
    var check = function () {
      setup.touched[id] = true;
      showError(f, input, error);
    };
    input.addEventListener("input", check);
    input.addEventListener("change", check);
    var label = el("label", { for: id }, (s.title || f.name) + (f.required ? "" : " (optional)"));
    return el("div", { class: "field" }, label, input, hint, error);
  }
  function valueOf(f, input) {
    var s = f.schema;
    if (s.type === "boolean") return input.checked;
    var raw = input.value;
    if (typeof raw === "string" && f.section === "config") raw = raw.trim();
    if (raw === "") return undefined;
    if (s.type === "integer" || s.type === "number") return Number(raw);
    return raw;
  }
  function problem(f, value) {
    var s = f.schema, title = s.title || f.name;
    if (value === undefined) return f.required ? "Enter " + title.charAt(0).toLowerCase() + title.slice(1) + "." : "";
    if (s.type === "integer" && !Number.isInteger(value)) return title + " must be a whole number.";
    if ((s.type === "number" || s.type === "integer") && isNaN(value)) return title + " must be a number.";
    if (typeof value !== "string") return "";
    if (s.minLength && value.length < s.minLength) return title + " is too short.";
    if (s.maxLength && value.length > s.maxLength) return title + " is too long.";
    if (s.enum && s.enum.map(String).indexOf(value) < 0) return "Choose one of the options.";
    if (s.pattern) {
      var re;
      try { re = new RegExp(s.pattern, "u"); } catch (e) { re = null; }
      if (re && !re.test(value)) return title + " is not in the expected format.";
    }
    if (s.format === "email" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) return "Enter an email address.";
    if ((s.format === "uri" || s.format === "url") && !/^https?:\/\/\S+$/.test(value)) return "Enter a full address starting with https://.";
    return "";
  }
  function showError(f, input, error) {
    var message = problem(f, valueOf(f, input));
    error.textContent = message;
    if (message) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    return message;
  }
  function renderStep() {
    var setup = state.setup, step = setup.steps[setup.index];
    $("test-result").hidden = true;
    $("endpoints").hidden = true;
    $("step-form").hidden = false;
    var body = clear($("step-body"));
    $("step-count").hidden = false;
    $("step-count").textContent = "Step " + (setup.index + 1) + " of " + (setup.steps.length + 1);
    step.forEach(function (f) { body.appendChild(renderField(f)); });
    $("back").textContent = setup.index === 0 ? "Back to services" : "Back";
    var last = setup.index === setup.steps.length - 1;
    $("next").textContent = last ? (setup.provider.auth_mode === "oauth2" ? "Continue" : "Test connection") : "Next";
    $("next").disabled = false;
    var first = body.querySelector("input,select");
    if (first) first.focus();
  }
  function collectStep() {
    var setup = state.setup, step = setup.steps[setup.index], bad = null;
    step.forEach(function (f) {
      var input = $(fieldId(f)), error = $(fieldId(f) + "-error");
      var message = showError(f, input, error);
      if (message && !bad) bad = input;
      var value = valueOf(f, input);
      if (value === undefined) delete setup.values[f.section][f.name];
      else setup.values[f.section][f.name] = value;
    });
    if (bad) bad.focus();
    return !bad;
  }
  function renderOAuthStep() {
    var setup = state.setup;
    $("test-result").hidden = true;
    $("step-form").hidden = false;
    $("step-count").textContent = "Step " + (setup.steps.length + 1) + " of " + (setup.steps.length + 1);
    var body = clear($("step-body"));
    body.appendChild(el("p", { text: "A window opens where you sign in to " + setup.provider.display_name + " and allow access. Come back here when it closes." }));
    setup.index = setup.steps.length;
    $("back").textContent = setup.steps.length ? "Back" : "Back to services";
    $("next").textContent = "Sign in with " + setup.provider.display_name;
    $("next").disabled = false;
    $("next").focus();
  }

  function onSubmit(e) {
    e.preventDefault();
    var setup = state.setup;
    if (!setup) return;
    if (setup.index >= setup.steps.length) {
      if (setup.provider.auth_mode === "oauth2") return startOAuth();
      return;
    }
    if (!collectStep()) return;
    if (setup.index < setup.steps.length - 1) { setup.index += 1; renderStep(); return; }
    if (setup.provider.auth_mode === "oauth2") { renderOAuthStep(); return; }
    runTest();
  }
  function back() {
    var setup = state.setup;
    if (!setup || setup.index === 0) return leaveSetup();
    setup.index -= 1;
    renderStep();
  }
  function leaveSetup() {
    state.setup = null;
    show("catalog");
    refreshConnections();
    $("catalog-title").setAttribute("tabindex", "-1");
    $("catalog-title").focus();
  }

  /* ---------- test before save ---------- */
  function configFor(setup) {
    return setup.connection ? setup.connection.config : setup.values.config;
  }
  function runTest() {
    var setup = state.setup;
    $("next").disabled = true;
    var box = $("test-result");
    box.hidden = false;
    box.className = "result";
    clear(box).appendChild(el("p", { text: "Testing…" }));
    api("test_connection", "", {
      method: "POST",
      body: { provider: setup.provider.key, credentials: setup.values.credentials, config: configFor(setup) }
    }).then(function (outcome) {
      setup.tested = outcome;
      renderOutcome(box, outcome, true);
    }).catch(function (err) {
      $("next").disabled = false;
      box.hidden = true;
      failed(err);
    });
  }
  function sampleTable(rows) {
    var objects = rows.filter(function (r) { return r && typeof r === "object" && !Array.isArray(r); });
    if (!objects.length) return el("pre", { text: JSON.stringify(rows, null, 2).slice(0, 2000) });
    var cols = [];
    objects.forEach(function (r) { Object.keys(r).forEach(function (k) { if (cols.indexOf(k) < 0 && cols.length < 6) cols.push(k); }); });
    var head = el("tr");
    cols.forEach(function (c) { head.appendChild(el("th", { scope: "col", text: c })); });
    var table = el("table", null, el("caption", { class: "sr-only", text: "Sample records" }), el("thead", null, head));
    var tbody = el("tbody");
    objects.forEach(function (r) {
      var tr = el("tr");
      cols.forEach(function (c) {
        var v = r[c];
        tr.appendChild(el("td", { text: v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v) }));
      });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    return table;
  }
  function renderOutcome(box, outcome, withSave) {
    box.className = "result " + (outcome.ok ? "ok" : "fail");
    clear(box);
    box.appendChild(el("p", null, el("strong", { text: outcome.ok ? "It works." : "It did not work." }), " ", outcome.message || ""));
    box.appendChild(el("p", { class: "muted" }, "Result: ", el("code", { text: outcome.code }),
      outcome.latency_ms !== null && outcome.latency_ms !== undefined ? " in " + outcome.latency_ms + " ms" : ""));
    if (outcome.suggestion) box.appendChild(el("p", { class: "suggestion", text: outcome.suggestion }));
    if (outcome.ok && outcome.sample && outcome.sample.length) {
      box.appendChild(el("h3", { text: "Sample" }));
      box.appendChild(sampleTable(outcome.sample));
    }
    if (!withSave) return;
    var actions = el("div", { class: "actions" });
    if (outcome.ok) actions.appendChild(el("button", { type: "button", id: "save", on: { click: save } }, state.setup.connection ? "Save new credentials" : "Save connection"));
    actions.appendChild(el("button", { type: "button", class: "ghost", on: { click: function () { box.hidden = true; renderStep(); } } }, "Change settings"));
    box.appendChild(actions);
    $("step-form").hidden = true;
    $("step-count").hidden = true;
    (outcome.ok ? $("save") : box.querySelector("button")).focus();
  }
  function save() {
    var setup = state.setup;
    $("save").disabled = true;
    var request = setup.connection
      ? api("connections", setup.connection.id, { method: "PATCH", body: { credentials: setup.values.credentials } })
      : api("connections", "", { method: "POST", body: { provider: setup.provider.key, config: setup.values.config, credentials: setup.values.credentials } });
    request.then(function (connection) {
      emit(setup.connection ? "connection.updated" : "connection.created", { connection: brief(connection) });
      notice((setup.connection ? "Reconnected " : "Connected ") + connection.display_name + ".", "good");
      if (!setup.connection && setup.provider.key === "rest_api") return pickEndpoints(connection);
      leaveSetup();
    }).catch(function (err) { $("save").disabled = false; failed(err); });
  }
  function brief(c) { return { id: c.id, provider: c.provider, status: c.status, display_name: c.display_name }; }

  /* ---------- endpoints of a generic REST API ---------- */
  function pickEndpoints(connection) {
    $("test-result").hidden = true;
    api("fetch", encodeURIComponent(connection.id) + "/endpoints").then(function (found) {
      var list = clear($("endpoint-list"));
      list.appendChild(el("legend", { class: "sr-only", text: "Endpoints" }));
      found.endpoints.forEach(function (ep, i) {
        var id = "ep-" + i;
        list.appendChild(el("label", { for: id }, el("input", { type: "checkbox", id: id, value: ep.method + " " + ep.path, checked: i === 0 }),
          el("span", null, el("code", { text: ep.method + " " + ep.path }), ep.summary ? " — " + ep.summary : "")));
      });
      $("endpoints").hidden = false;
      $("save-endpoints").onclick = function () {
        var chosen = Array.prototype.slice.call(list.querySelectorAll("input:checked")).map(function (i) { return i.value; });
        var metadata = {};
        Object.keys(connection.metadata || {}).forEach(function (k) { metadata[k] = connection.metadata[k]; });
        metadata.endpoints = chosen;
        api("connections", connection.id, { method: "PATCH", body: { metadata: metadata } }).then(leaveSetup).catch(failed);
      };
      $("skip-endpoints").onclick = leaveSetup;
      var first = list.querySelector("input");
      if (first) first.focus();
    }).catch(function (err) { failed(err); leaveSetup(); });
  }

  /* ---------- OAuth in a popup (fallback: the whole page) ---------- */
  function returnTo() {
    var q = new URLSearchParams();
    q.set("session", sessionId);
    if (embedded) { q.set("embed", "1"); q.set("origin", hostOrigin); }
    q.set("oauth", "1");
    return location.origin + location.pathname + "?" + q.toString();
  }
  function startOAuth() {
    var setup = state.setup;
    // Opened now, inside the click, so that popup blockers let it through.
    var popup = window.open("", "tether-oauth", "popup,width=520,height=720");
    $("next").disabled = true;
    var body = setup.connection
      ? { connection_id: setup.connection.id, return_to: returnTo() }
      : { provider: setup.provider.key, config: setup.values.config, credentials: setup.values.credentials, return_to: returnTo() };
    api("oauth_start", "", { method: "POST", body: body }).then(function (started) {
      if (!popup || popup.closed) {
        try { sessionStorage.setItem(storeKey + ":oauth", setup.provider.key); } catch (e) { /* shown without a name */ }
        location.assign(started.authorization_url);
        return;
      }
      popup.location.href = started.authorization_url;
      waitForPopup(popup, setup);
    }).catch(function (err) {
      if (popup && !popup.closed) popup.close();
      $("next").disabled = false;
      failed(err);
    });
  }
  function waitForPopup(popup, setup) {
    var done = false;
    function onMessage(e) {
      if (e.origin !== location.origin || e.source !== popup || !e.data || e.data.source !== "tether-connect-oauth") return;
      finish(e.data.outcome);
    }
    var poll = setInterval(function () {
      if (popup.closed && !done) finish({ error: "closed", message: "The sign-in window was closed before it finished." });
    }, 400);
    function finish(outcome) {
      done = true;
      clearInterval(poll);
      window.removeEventListener("message", onMessage);
      oauthFinished(outcome, setup);
    }
    window.addEventListener("message", onMessage);
  }
  function oauthFinished(outcome, setup) {
    $("next").disabled = false;
    var name = setup ? setup.provider.display_name : "the account";
    if (outcome && !outcome.error) {
      notice("Connected " + name + ".", "good");
      emit(setup && setup.connection ? "connection.updated" : "connection.created",
        { connection: { id: outcome.connection_id, provider: setup ? setup.provider.key : null, status: outcome.status } });
      if (setup) leaveSetup(); else refreshConnections();
      return;
    }
    var message = outcome && outcome.error === "browser_mismatch"
      ? "This sign-in was started in another browser. Start it again here."
      : (outcome && outcome.message) || "Sign-in did not finish.";
    notice(message, "bad");
    emit("error", { code: outcome && outcome.error ? outcome.error : "oauth_failed" });
  }

  /* ---------- the end user's connections ---------- */
  function refreshConnections() {
    return api("connections", "").then(function (data) {
      state.connections = data.connections;
      renderConnections();
    }).catch(failed);
  }
  function providerName(key) {
    for (var i = 0; i < state.catalog.length; i++) if (state.catalog[i].key === key) return state.catalog[i].display_name;
    return key;
  }
  function renderConnections() {
    var ul = clear($("connections"));
    $("no-connections").hidden = state.connections.length > 0;
    state.connections.forEach(function (c) {
      var result = el("div", { class: "result", "aria-live": "polite", hidden: true });
      var item = el("li", { "data-connection": c.id },
        el("h3", null, c.display_name + " ", el("span", { class: "status " + c.status, text: c.status.replace("_", " ") })),
        el("p", { class: "muted", text: providerName(c.provider) + " · connected " + when(c.created_at) }));
      if (c.last_test) {
        item.appendChild(el("p", { class: "muted", text: "Last test: " + (c.last_test.ok ? "passed" : "failed (" + c.last_test.code + ")") + ", " + when(c.last_test.at) }));
      }
      if (c.status_detail && c.status !== "active") {
        item.appendChild(el("p", { class: "error", text: c.status_detail.message }));
        if (c.status_detail.suggestion) item.appendChild(el("p", { class: "hint", text: c.status_detail.suggestion }));
      }
      var label = c.display_name;
      item.appendChild(el("div", { class: "actions" },
        el("button", { type: "button", class: "ghost", "aria-label": "Test " + label, on: { click: function (e) { testStored(c, result, e.target); } } }, "Test"),
        el("button", { type: "button", class: "ghost", "aria-label": "Reconnect " + label, on: { click: function () { startSetup(c.provider, c); } } }, "Reconnect"),
        el("button", { type: "button", class: "ghost", "aria-label": "Remove " + label, on: { click: function (e) { remove(c, e.target); } } }, "Remove")));
      item.appendChild(result);
      ul.appendChild(item);
    });
  }
  function testStored(c, box, button) {
    button.disabled = true;
    box.hidden = false;
    clear(box).appendChild(el("p", { text: "Testing…" }));
    api("test_connection", encodeURIComponent(c.id), { method: "POST" }).then(function (outcome) {
      renderOutcome(box, outcome, false);
      button.disabled = false;
    }).catch(function (err) { button.disabled = false; box.hidden = true; failed(err); });
  }
  function remove(c, button) {
    var dialog = $("confirm");
    $("confirm-text").textContent = c.display_name + " will be disconnected and its credentials deleted.";
    dialog.returnValue = "";
    dialog.onclose = function () {
      if (dialog.returnValue !== "ok") { button.focus(); return; }
      api("connections", encodeURIComponent(c.id), { method: "DELETE" }).then(function () {
        emit("connection.deleted", { connection: brief(c) });
        notice("Removed " + c.display_name + ".", "good");
        return refreshConnections();
      }).then(function () { $("connections-title").setAttribute("tabindex", "-1"); $("connections-title").focus(); }).catch(failed);
    };
    dialog.showModal();
  }

  /* ---------- start ---------- */
  function boot() {
    $("step-form").addEventListener("submit", onSubmit);
    $("back").addEventListener("click", back);
    $("cancel").addEventListener("click", leaveSetup);
    ["q", "category", "region", "auth_mode"].forEach(function (id) { $(id).addEventListener(id === "q" ? "input" : "change", search); });
    if (embedded) {
      $("close").hidden = false;
      $("close").addEventListener("click", function () { emit("closed"); });
      document.addEventListener("keydown", function (e) { if (e.key === "Escape" && !$("confirm").open) emit("closed"); });
    }
    if (!state.token || !sessionId) {
      if (!oauthOutcome) return ended("MISSING_TOKEN");
      // An OAuth flow came back to a browser that holds no session: say what happened.
      $("loading").hidden = true;
      return oauthFinished(oauthOutcome, null);
    }
    api("connect_sessions", "current").then(function (session) {
      state.session = session;
      var name = session.end_user.display_name || session.end_user.id;
      $("who").textContent = "for " + name;
      return Promise.all([loadCatalog(), refreshConnections()]);
    }).then(function () {
      $("loading").hidden = true;
      show("catalog");
      var pending = null;
      try { pending = sessionStorage.getItem(storeKey + ":oauth"); sessionStorage.removeItem(storeKey + ":oauth"); } catch (e) { pending = null; }
      if (oauthOutcome) oauthFinished(oauthOutcome, null);
      else if (params.get("provider")) startSetup(params.get("provider"), null);
      emit("ready");
      return pending;
    }).catch(failed);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
