"""Billing: the use cases of one billing service, wired to one catalogue, one Stripe adapter and one
profile service client. The servicer and the webhook handler call them through it."""

from __future__ import annotations

from billing_service.domain.catalogue import Catalogue
from billing_service.settings import BillingSettings
from billing_service.use_cases.allowances import Allowances
from billing_service.use_cases.checkout import Checkout
from billing_service.use_cases.customers import CustomerLinks
from billing_service.use_cases.disputes import Disputes
from billing_service.use_cases.fulfilment import Fulfilment
from billing_service.use_cases.portal import BillingPortal
from billing_service.use_cases.ports import ProfilePort, StripePort
from billing_service.use_cases.prices import PriceList
from billing_service.use_cases.reconciliation import Reconciliation
from billing_service.use_cases.refunds import Refunds
from billing_service.use_cases.subscriptions import Subscriptions


class Billing:
    def __init__(
        self, settings: BillingSettings, catalogue: Catalogue, stripe_port: StripePort, profile: ProfilePort
    ) -> None:
        self.prices = PriceList(catalogue, stripe_port)
        self.customers = CustomerLinks(stripe_port, profile)
        self.checkout = Checkout(settings, catalogue, stripe_port, self.customers)
        self.fulfilment = Fulfilment(catalogue, stripe_port, profile)
        self.subscriptions = Subscriptions(stripe_port, profile)
        self.allowances = Allowances(catalogue, stripe_port, profile)
        self.refunds = Refunds(stripe_port, profile, self.fulfilment)
        self.disputes = Disputes(stripe_port, self.refunds)
        self.portal = BillingPortal(settings, stripe_port, profile)
        self.reconciliation = Reconciliation(
            stripe_port, self.fulfilment, self.refunds, self.disputes, self.subscriptions, self.allowances
        )
