"""The hosted checkout page a browser lands on (`session.url`): line items, total, Pay and Cancel.

Pay completes the session as paid, delivers the webhooks before redirecting (so the success page
usually finds the purchase already fulfilled), then answers 303 to success_url, with
{CHECKOUT_SESSION_ID} replaced like Stripe does.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from . import checkout
from .errors import StripeError
from .runtime import Standin

_ZERO_DECIMAL = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
}
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}

# Inline styles only (no external assets: the stand-in works offline); readable from 320 px up.
_STYLE = """
*{box-sizing:border-box}
body{margin:0;background:#f6f8fa;color:#1a1f36;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
overflow-wrap:anywhere}
main{max-width:30rem;margin:2rem auto;padding:1.5rem;background:#fff;border:1px solid #e3e8ee;border-radius:.75rem;
box-shadow:0 2px 8px rgba(26,31,54,.06)}
.badge{display:inline-block;margin:0 0 1rem;padding:.1rem .5rem;border-radius:1rem;background:#fff4e5;color:#8a4b00;
font-size:.8rem}
h1{margin:0 0 1rem;font-size:1.4rem}
table{width:100%;border-collapse:collapse;margin-bottom:.5rem}
td{padding:.5rem 0;border-bottom:1px solid #e3e8ee;vertical-align:top}
td+td{padding-left:.75rem}
td.qty{color:#697386;white-space:nowrap}
td.amount{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.total{display:flex;justify-content:space-between;font-size:1.1rem;margin:.75rem 0 1.25rem}
label{display:block;font-size:.9rem;color:#3c4257;margin-bottom:.25rem}
input{display:block;width:100%;font:inherit;padding:.6rem .7rem;border:1px solid #cfd7df;border-radius:.4rem}
input:focus,button:focus{outline:2px solid #635bff;outline-offset:1px}
button{display:block;width:100%;margin-top:1.25rem;padding:.75rem;border:0;border-radius:.4rem;background:#635bff;
color:#fff;font:inherit;font-weight:600;cursor:pointer}
button.cancel{width:auto;margin:0;padding:.4rem .8rem;font-weight:400;background:#e3e8ee;color:#1a1f36}
a{color:#635bff}
.secondary{margin:1rem 0 0;text-align:center}
.note{color:#697386;font-size:.85rem}
td form{margin:0}
td.status{white-space:nowrap}
@media (max-width:34rem){main{margin:0;min-height:100vh;border:0;border-radius:0;box-shadow:none;padding:1rem}}
"""

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="icon" href="data:,"><style>{style}</style></head>
<body><main>
<p class="badge">Stripe stand-in · test mode</p>
{content}
</main></body>
</html>
"""


def format_amount(amount: int, currency: str) -> str:
    number = f"{amount:,}" if currency.lower() in _ZERO_DECIMAL else f"{amount / 100:,.2f}"
    symbol = _SYMBOLS.get(currency.lower())
    return f"{symbol}{number}" if symbol else f"{number} {currency.upper()}"


def page(title: str, content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), style=_STYLE, content=content), status_code=status)


def page_message(title: str, text: str, status: int) -> HTMLResponse:
    return page(title, f'<h1>{escape(title)}</h1><p id="message">{escape(text)}</p>', status)


def _session_or_404(sd: Standin, session_id: str) -> dict | None:
    try:
        return checkout.get_session(sd, session_id)
    except StripeError:
        return None


def prefilled_email(sd: Standin, session: dict) -> str:
    """What Stripe prefills: customer_email, else the email of the session's customer (billing creates the
    customer with the signed-in user's email)."""
    if session.get("customer_email"):
        return str(session["customer_email"])
    customer = sd.store.customers.get(session.get("customer") or "")
    return str((customer or {}).get("email") or "")


async def show(request: Request) -> Response:
    sd: Standin = request.app.state.standin
    session_id = request.path_params["id"]
    session = _session_or_404(sd, session_id)
    if session is None:
        return page_message("Not found", "This checkout page does not exist.", 404)
    if session["status"] != "open":
        text = (
            "This checkout session has been completed."
            if session["status"] == "complete"
            else "This checkout session has expired."
        )
        return page_message("Checkout unavailable", text, 200)
    currency = session["currency"]
    rows = "".join(
        f'<tr class="line-item"><td>{escape(li["description"])}</td><td class="qty">× {li["quantity"]}</td>'
        f'<td class="amount">{format_amount(li["amount_total"], currency)}'
        f"{' / ' + escape(li['price']['recurring']['interval']) if li['price']['recurring'] else ''}</td></tr>"
        for li in sd.store.line_items[session_id]
    )
    total = format_amount(session["amount_total"], currency)
    cancel = (
        f'<p class="secondary"><a id="cancel" href="{escape(session["cancel_url"], quote=True)}">Cancel and go back</a></p>'
        if session["cancel_url"]
        else ""
    )
    email = prefilled_email(sd, session)
    content = f"""<h1>Checkout</h1>
<table id="line-items">{rows}</table>
<p class="total"><span>Total</span><strong id="total">{total}</strong></p>
<form method="post" action="/checkout/{escape(session_id, quote=True)}/pay">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="email" value="{escape(email, quote=True)}">
<button id="pay" type="submit">Pay {total}</button>
</form>
{cancel}
<p class="note">No card needed: Pay completes the session as paid.</p>"""
    return page("Checkout", content)


async def pay(request: Request) -> Response:
    sd: Standin = request.app.state.standin
    session_id = request.path_params["id"]
    session = _session_or_404(sd, session_id)
    if session is None:
        return page_message("Not found", "This checkout page does not exist.", 404)
    # Parsed by hand: Starlette's request.form() would need python-multipart.
    form = dict(parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True))
    email = form.get("email", "").strip() or None
    try:
        result = checkout.complete_session(sd, session_id, "paid", email)
    except StripeError as err:
        return page_message("Payment not possible", err.message, 400)
    await sd.webhooks.wait(result["events"], sd.settings.wait_timeout_s)
    target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
    return RedirectResponse(target, status_code=303)


def checkout_routes() -> list[Route]:
    return [
        Route("/checkout/{id}", show, methods=["GET"]),
        Route("/checkout/{id}/pay", pay, methods=["POST"]),
    ]
