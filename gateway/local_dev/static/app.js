// The local try-it page: sign in as a test user, see the balance and history, buy through Checkout.
// Same-origin calls to the gateway only; every value put in the page goes through textContent.
"use strict";

(() => {
  const TOKEN_KEY = "tokens.local.idToken";
  const SESSION_ID = /^[A-Za-z0-9_-]{1,255}$/;
  const PENDING_POLLS = 10;

  const $ = (id) => document.getElementById(id);
  let idToken = sessionStorage.getItem(TOKEN_KEY);

  class ApiFailure extends Error {
    constructor(status, error) {
      super(error.message || `request failed (${status})`);
      this.status = status;
      this.code = error.code || "";
      this.reason = error.reason || "";
    }
  }

  function notice(text, kind = "info") {
    const el = $("notice");
    el.textContent = text || "";
    el.dataset.kind = kind;
    el.hidden = !text;
  }

  function setState(state) {
    document.body.dataset.state = state;
  }

  async function api(method, path, { body, headers = {}, auth = true } = {}) {
    const sent = { Accept: "application/json", ...headers };
    if (auth && idToken) sent.Authorization = `Bearer ${idToken}`;
    let payload;
    if (body !== undefined) {
      sent["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const response = await fetch(path, { method, headers: sent, body: payload, cache: "no-store",
                                         credentials: "omit", redirect: "error" });
    let data = null;
    if ((response.headers.get("content-type") || "").includes("json")) {
      try { data = await response.json(); } catch { data = null; }
    }
    if (!response.ok) {
      const error = data && typeof data.error === "object" && data.error ? data.error : {};
      throw new ApiFailure(response.status, error);
    }
    return data;
  }

  function randomKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function money(amount, currency) {
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() })
        .format(amount / 100);
    } catch {
      return `${amount} ${currency}`;
    }
  }

  function signedAmount(n) {
    return n > 0 ? `+${n}` : String(n);
  }

  // --- rendering -------------------------------------------------------------------------------------

  function showSignedOut() {
    $("signed-in").hidden = true;
    $("signed-out").hidden = false;
    setState("signed-out");
  }

  function showSignedIn() {
    $("signed-out").hidden = true;
    $("signed-in").hidden = false;
  }

  function renderProfile(profile) {
    $("user-uid").textContent = profile.uid;
    $("user-email").textContent = profile.email ? `(${profile.email})` : "";
    $("tokens").textContent = String(profile.tokens);
    $("has-access").textContent = profile.has_access ? "true" : "false";
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function renderHistory(entries) {
    const body = $("history-rows");
    body.replaceChildren();
    if (!entries.length) {
      const row = document.createElement("tr");
      row.id = "history-empty";
      const td = cell(row, "No token history yet.", "muted");
      td.colSpan = 5;
      body.appendChild(row);
      return;
    }
    for (const entry of entries) {
      const row = document.createElement("tr");
      row.className = "history-row";
      row.dataset.entryId = entry.entry_id;
      cell(row, new Date(entry.timestamp).toLocaleString(), "when");
      cell(row, entry.type, "type");
      cell(row, signedAmount(entry.amount), `amount num ${entry.amount >= 0 ? "positive" : "negative"}`);
      cell(row, String(entry.balance_after), "balance-after num");
      cell(row, entry.reason || "", "reason");
      body.appendChild(row);
    }
  }

  function renderPrices(prices) {
    const box = $("prices");
    box.replaceChildren();
    if (!prices.length) {
      const span = document.createElement("span");
      span.className = "muted";
      span.textContent = "The catalogue is empty.";
      box.appendChild(span);
      return;
    }
    for (const price of prices) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "buy";
      if (SESSION_ID.test(price.price_id)) button.id = `buy-${price.price_id}`;
      button.dataset.priceId = price.price_id;
      button.dataset.mode = price.mode;
      const name = price.display_name || price.price_id;
      const verb = price.mode === "subscription" ? "Subscribe:" : "Buy";
      button.textContent = `${verb} ${name} · ${money(price.unit_amount, price.currency)}`;
      button.title = price.mode === "payment" ? `${price.tokens_per_unit} tokens per unit` : "a subscription: grants has_access";
      button.addEventListener("click", () => buy(price));
      box.appendChild(button);
    }
  }

  // --- actions ---------------------------------------------------------------------------------------

  async function refresh() {
    const [profile, history] = await Promise.all([
      api("GET", "/v1/profile"),
      api("GET", "/v1/profile/token-history?page_size=20"),
    ]);
    renderProfile(profile);
    renderHistory(history.entries);
  }

  async function loadProfile(justSignedIn) {
    if (justSignedIn) return api("POST", "/v1/profile"); // sign-up; idempotent, refreshes last_login
    try {
      return await api("GET", "/v1/profile");
    } catch (err) {
      if (err instanceof ApiFailure && err.status === 404) return api("POST", "/v1/profile");
      throw err;
    }
  }

  async function checkSession(sessionId) {
    // The success page's check: grants the tokens if paid (exactly once) and answers the balance.
    for (let attempt = 0; ; attempt++) {
      const result = await api("GET", `/v1/checkout-sessions/${encodeURIComponent(sessionId)}`);
      if (result.status === "fulfilled") {
        notice(`Payment received: ${signedAmount(result.tokens_granted)} tokens. Balance: ${result.balance}.`, "ok");
        return;
      }
      if (result.status === "subscription") {
        notice("Subscription started: access comes from the subscription.", "ok");
        return;
      }
      if (result.status === "failed") {
        notice("The payment did not go through; nothing was granted.", "error");
        return;
      }
      if (attempt >= PENDING_POLLS) {
        notice("The payment is still being processed; reload this page in a moment.", "info");
        return;
      }
      notice("Waiting for the payment to be confirmed…", "info");
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  async function enter(justSignedIn) {
    showSignedIn();
    setState("loading");
    const profile = await loadProfile(justSignedIn);
    renderProfile(profile);
    const params = new URLSearchParams(location.search);
    const sessionId = params.get("session_id");
    if (location.pathname === "/success" && sessionId) {
      if (SESSION_ID.test(sessionId)) await checkSession(sessionId);
      else notice("The checkout session id in the address is not valid.", "error");
    }
    const [prices] = await Promise.all([api("GET", "/v1/prices"), refresh()]);
    renderPrices(prices.prices);
    setState("ready");
  }

  async function buy(price) {
    const buttons = document.querySelectorAll("button.buy");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const session = await api("POST", "/v1/checkout-sessions", {
        body: { price_id: price.price_id, mode: price.mode },
        headers: { "Idempotency-Key": randomKey() },
      });
      const url = new URL(session.url);
      if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("unexpected checkout URL");
      setState("redirecting");
      window.location.assign(url.href);
    } catch (err) {
      buttons.forEach((b) => { b.disabled = false; });
      failed(err);
    }
  }

  function signOut(message) {
    idToken = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $("tokens").textContent = "…";
    $("has-access").textContent = "…";
    $("history-rows").replaceChildren();
    notice(typeof message === "string" ? message : "", "info");
    showSignedOut();
  }

  function failed(err) {
    if (err instanceof ApiFailure && err.status === 401) {
      signOut("Your sign-in is no longer valid (expired, or the gateway's key changed). Sign in again.");
      return;
    }
    const detail = err instanceof ApiFailure && err.reason ? ` [${err.reason}]` : "";
    notice(`${err.message || "Something went wrong."}${detail}`, "error");
    setState("error");
  }

  async function onSignIn(event) {
    event.preventDefault();
    const button = $("sign-in");
    button.disabled = true;
    notice("");
    try {
      const email = $("email").value.trim();
      const reply = await api("POST", "/local/sign-in", {
        body: { uid: $("uid").value.trim(), email: email || null },
        auth: false,
      });
      idToken = reply.id_token;
      sessionStorage.setItem(TOKEN_KEY, idToken);
      await enter(true);
    } catch (err) {
      failed(err);
    } finally {
      button.disabled = false;
    }
  }

  function start() {
    $("sign-in-form").addEventListener("submit", onSignIn);
    $("sign-out").addEventListener("click", () => signOut());
    if (location.pathname === "/cancel") notice("Checkout was cancelled; nothing was charged.", "info");
    if (!idToken) {
      if (location.pathname === "/success") {
        notice("Sign in as the user who paid to see the purchase.", "info");
      }
      showSignedOut();
      return;
    }
    enter(false).catch(failed);
  }

  start();
})();
