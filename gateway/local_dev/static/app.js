// The local try-it page: sign in as a test user, see the balance and history, buy through Checkout, manage a
// subscription in the billing portal. Every gateway call but the development sign-in goes through the typed
// client (token-client.js, built from clients/typescript), so the browser test exercises it too. Same-origin
// calls only; every value put in the page goes through textContent.
import { AuthError, TokenApiError, createTokenClient } from "./token-client.js";

const TOKEN_KEY = "tokens.local.idToken";
const SESSION_ID = /^[A-Za-z0-9_-]{1,255}$/;
// The success page asks a few times; after that the live profile (watchProfile) tells it when the payment lands.
const PENDING_POLLS = 3;
// Subscription states in which the billing portal, not Subscribe, is what the user needs.
const SUBSCRIBED = new Set(["active", "trialing", "past_due", "unpaid", "incomplete", "paused"]);

const $ = (id) => document.getElementById(id);
let idToken = sessionStorage.getItem(TOKEN_KEY);
let watch = null;
let lastProfile = null;
let prices = [];
let pendingSession = null; // a checkout session the success page is still waiting for

const client = createTokenClient({
  baseUrl: "",
  getIdToken: async () => {
    if (!idToken) throw new AuthError("auth", { status: 401, code: "UNAUTHENTICATED", message: "not signed in", reason: "NOT_SIGNED_IN" });
    return idToken;
  },
});

function notice(text, kind = "info") {
  const el = $("notice");
  el.textContent = text || "";
  el.dataset.kind = kind;
  el.hidden = !text;
}

function setState(state) {
  document.body.dataset.state = state;
}

function randomKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function money(amount, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() }).format(amount / 100);
  } catch {
    return `${amount} ${currency}`;
  }
}

function signedAmount(n) {
  return n > 0 ? `+${n}` : String(n);
}

function isSubscriber(profile) {
  return Boolean(profile && (profile.has_access || SUBSCRIBED.has(profile.subscription_status || "")));
}

// --- rendering ---------------------------------------------------------------------------------------

function showSignedOut() {
  $("signed-in").hidden = true;
  $("signed-out").hidden = false;
  setState("signed-out");
}

function showSignedIn() {
  $("signed-out").hidden = true;
  $("signed-in").hidden = false;
}

// A number card shown only when the profile carries the field (older gateways do not).
function optionalCard(cardId, valueId, value) {
  const present = typeof value === "number";
  $(cardId).hidden = !present;
  if (present) $(valueId).textContent = String(value);
}

function renderProfile(profile) {
  lastProfile = profile;
  $("user-uid").textContent = profile.uid;
  $("user-email").textContent = profile.email ? `(${profile.email})` : "";
  $("tokens").textContent = String(profile.tokens);
  optionalCard("available-card", "available", profile.available_tokens);
  optionalCard("held-card", "held", profile.held_tokens);
  const expiring = typeof profile.next_expiry_amount === "number" && profile.next_expiry_amount > 0;
  optionalCard("expiry-card", "expiring", expiring ? profile.next_expiry_amount : undefined);
  $("expiring-when").textContent =
    expiring && profile.next_expiry_time ? `on ${new Date(profile.next_expiry_time).toLocaleString()}` : "";
  $("has-access").textContent = profile.has_access ? "yes" : "no";
  $("subscription-status").textContent = profile.subscription_status ? `subscription: ${profile.subscription_status}` : "";
  renderPrices();
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

const TYPE_LABELS = {
  purchase: "Purchase",
  promotional: "Promotion",
  refund: "Refund",
  refund_reversal: "Refund reversed",
  adjustment: "Adjustment",
  spend: "Spend",
  expiry: "Expired",
  allowance: "Subscription allowance",
};

// The entry's own reason, else one from where it came from (a purchase names its price).
function reasonOf(entry) {
  if (entry.reason) return entry.reason;
  const source = entry.source || {};
  const price = prices.find((p) => p.price_id === source.price_id);
  const what = price ? price.display_name || price.price_id : source.price_id || source.product_id || "";
  const label = TYPE_LABELS[entry.type] || entry.type;
  if (what) return `${label}: ${what}`;
  if (entry.type === "purchase") return source.checkout_session_id ? "Purchase: Stripe Checkout" : "Purchase";
  return "";
}

function renderHistory(entries) {
  const body = $("history-rows");
  body.replaceChildren();
  if (!entries.length) {
    const row = document.createElement("tr");
    row.id = "history-empty";
    cell(row, "No token history yet.", "muted").colSpan = 5;
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
    cell(row, reasonOf(entry), "reason");
    body.appendChild(row);
  }
}

function renderPrices() {
  const box = $("prices");
  const subscriber = isSubscriber(lastProfile);
  $("subscription-box").hidden = !subscriber;
  box.replaceChildren();
  // A subscriber is not offered a second subscription: the portal manages the one they have.
  const offered = prices.filter((price) => !(subscriber && price.mode === "subscription"));
  if (!offered.length) {
    const span = document.createElement("span");
    span.className = "muted";
    span.textContent = prices.length ? "Nothing else to buy." : "The catalogue is empty.";
    box.appendChild(span);
    return;
  }
  for (const price of offered) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "buy";
    if (SESSION_ID.test(price.price_id)) button.id = `buy-${price.price_id}`;
    button.dataset.priceId = price.price_id;
    button.dataset.mode = price.mode;
    const name = price.display_name || price.price_id;
    const verb = price.mode === "subscription" ? "Subscribe:" : "Buy";
    button.textContent = `${verb} ${name} · ${money(price.unit_amount, price.currency)}`;
    button.title = price.mode === "payment" ? `${price.tokens_per_unit} tokens per unit` : "a subscription: grants access";
    button.addEventListener("click", () => buy(price));
    box.appendChild(button);
  }
}

function setLive(on) {
  const el = $("live");
  el.dataset.live = on ? "on" : "off";
  el.textContent = on ? "Live: the balance updates by itself." : "Reconnecting for live updates…";
}

// --- actions -----------------------------------------------------------------------------------------

async function refreshHistory() {
  const page = await client.listTokenHistory({ page_size: 20 });
  renderHistory(page.entries);
}

function startWatch() {
  stopWatch();
  watch = client.watchProfile(
    (profile) => {
      setLive(true);
      const changed = !lastProfile || lastProfile.tokens !== profile.tokens || lastProfile.has_access !== profile.has_access;
      renderProfile(profile);
      if (changed) refreshHistory().catch(failed);
      if (changed && pendingSession) checkSession(pendingSession, 0).catch(failed);
    },
    {
      onError: (err, willRetry) => {
        setLive(false);
        if (!willRetry) failed(err);
      },
    },
  );
}

function stopWatch() {
  if (watch) watch.close();
  watch = null;
}

function sessionMessage(result) {
  switch (result.status) {
    case "fulfilled":
      return [`Payment received: ${signedAmount(result.tokens_granted)} tokens. Balance: ${result.balance}.`, "ok"];
    case "subscription":
      return ["Subscription started: access comes from the subscription.", "ok"];
    case "failed":
      return ["The payment did not go through; nothing was granted.", "error"];
    default:
      return null;
  }
}

// The success page's check: grants the tokens if paid (exactly once) and answers the balance. While the
// payment is pending it asks a few times, then leaves it to the live profile.
async function checkSession(sessionId, polls = PENDING_POLLS) {
  for (let attempt = 0; ; attempt++) {
    const result = await client.getCheckoutSession(sessionId);
    const message = sessionMessage(result);
    if (message) {
      pendingSession = null;
      notice(...message);
      return;
    }
    pendingSession = sessionId;
    if (attempt >= polls) {
      notice("The payment is still being processed; the balance updates here when it is confirmed.", "info");
      return;
    }
    notice("Waiting for the payment to be confirmed…", "info");
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// Once handled, ?session_id= leaves the address: a reload does not announce the payment again.
function takeSessionFromAddress() {
  if (location.pathname !== "/success") return null;
  const sessionId = new URLSearchParams(location.search).get("session_id");
  history.replaceState(null, "", "/");
  return sessionId;
}

async function enter(justSignedIn) {
  showSignedIn();
  setState("loading");
  // Sign-up on a fresh sign-in (idempotent; records last_login); getUserProfile creates it if missing.
  const profile = justSignedIn ? await client.createUserProfile() : await client.getUserProfile();
  prices = await client.listPrices();
  renderProfile(profile);
  const sessionId = takeSessionFromAddress();
  if (sessionId !== null) {
    if (SESSION_ID.test(sessionId)) await checkSession(sessionId);
    else notice("The checkout session id in the address is not valid.", "error");
  }
  renderProfile(await client.getUserProfile());
  await refreshHistory();
  startWatch();
  setState("ready");
}

async function buy(price) {
  const buttons = document.querySelectorAll("button.buy");
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const session = await client.createCheckoutSession(price.price_id, price.mode, { idempotencyKey: randomKey() });
    leaveFor(session.url);
  } catch (err) {
    buttons.forEach((b) => { b.disabled = false; });
    failed(err);
  }
}

async function manageSubscription() {
  const button = $("manage-subscription");
  button.disabled = true;
  try {
    const portal = await client.createBillingPortalSession(`${location.origin}/`);
    leaveFor(portal.url);
  } catch (err) {
    button.disabled = false;
    failed(err);
  }
}

function leaveFor(href) {
  const url = new URL(href);
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("unexpected redirect URL");
  stopWatch();
  setState("redirecting");
  window.location.assign(url.href);
}

function signOut(message) {
  stopWatch();
  idToken = null;
  lastProfile = null;
  pendingSession = null;
  sessionStorage.removeItem(TOKEN_KEY);
  for (const id of ["tokens", "available", "held", "expiring", "has-access"]) $(id).textContent = "…";
  $("history-rows").replaceChildren();
  notice(typeof message === "string" ? message : "", "info");
  showSignedOut();
}

function failed(err) {
  if (err instanceof AuthError) {
    signOut("Your sign-in is no longer valid (expired, or the gateway's key changed). Sign in again.");
    return;
  }
  const detail = err instanceof TokenApiError && err.reason ? ` [${err.reason}]` : "";
  notice(`${err.message || "Something went wrong."}${detail}`, "error");
  setState("error");
}

// The development sign-in is not part of the API (nor of the client): a plain fetch.
async function devSignIn(uid, email) {
  const response = await fetch("/local/sign-in", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ uid, email: email || null }),
    cache: "no-store",
    credentials: "omit",
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || {};
    const field = error.field === "uid" ? "User id" : error.field === "email" ? "Email" : "";
    // The gateway's message starts with the field's JSON name ('uid': ...): the page names it in words.
    const message = field ? `${field}: ${String(error.message).replace(/^'[^']*': /, "")}` : error.message;
    throw new Error(message || `Sign-in failed (HTTP ${response.status}).`);
  }
  return data.id_token;
}

async function onSignIn(event) {
  event.preventDefault();
  const button = $("sign-in");
  button.disabled = true;
  notice("");
  try {
    idToken = await devSignIn($("uid").value.trim(), $("email").value.trim());
    sessionStorage.setItem(TOKEN_KEY, idToken);
    await enter(true);
  } catch (err) {
    if (err instanceof TokenApiError) failed(err);
    else {
      notice(err.message, "error");
      setState("signed-out");
    }
  } finally {
    button.disabled = false;
  }
}

function start() {
  $("sign-in-form").addEventListener("submit", onSignIn);
  $("sign-out").addEventListener("click", () => signOut());
  $("manage-subscription").addEventListener("click", manageSubscription);
  if (location.pathname === "/cancel") {
    notice("Checkout was cancelled; nothing was charged.", "info");
    history.replaceState(null, "", "/");
  }
  if (!idToken) {
    if (location.pathname === "/success") notice("Sign in as the user who paid to see the purchase.", "info");
    showSignedOut();
    return;
  }
  enter(false).catch(failed);
}

start();
