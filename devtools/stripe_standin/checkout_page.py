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

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto}}td{{padding:.25rem .75rem}}</style></head>
<body>
<p><small>Stripe stand-in (test mode)</small></p>
{content}
</body>
</html>
"""


def format_amount(amount: int, currency: str) -> str:
    number = f"{amount:,}" if currency.lower() in _ZERO_DECIMAL else f"{amount / 100:,.2f}"
    symbol = _SYMBOLS.get(currency.lower())
    return f"{symbol}{number}" if symbol else f"{number} {currency.upper()}"


def page(title: str, content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), content=content), status_code=status)


def page_message(title: str, text: str, status: int) -> HTMLResponse:
    return page(title, f'<h1>{escape(title)}</h1><p id="message">{escape(text)}</p>', status)


def _session_or_404(sd: Standin, session_id: str) -> dict | None:
    try:
        return checkout.get_session(sd, session_id)
    except StripeError:
        return None


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
        f'<tr class="line-item"><td>{escape(li["description"])}</td><td>× {li["quantity"]}</td>'
        f"<td>{format_amount(li['amount_total'], currency)}"
        f"{' / ' + escape(li['price']['recurring']['interval']) if li['price']['recurring'] else ''}</td></tr>"
        for li in sd.store.line_items[session_id]
    )
    total = format_amount(session["amount_total"], currency)
    cancel = (
        f'<p><a id="cancel" href="{escape(session["cancel_url"], quote=True)}">Cancel</a></p>'
        if session["cancel_url"]
        else ""
    )
    email = session["customer_email"] or ""
    content = f"""<h1>Checkout</h1>
<table id="line-items">{rows}</table>
<p>Total: <strong id="total">{total}</strong></p>
<form method="post" action="/checkout/{escape(session_id, quote=True)}/pay">
<p><label>Email <input name="email" type="email" value="{escape(email, quote=True)}"></label></p>
<button id="pay" type="submit">Pay {total}</button>
</form>
{cancel}"""
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
