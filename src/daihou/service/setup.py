"""Reference data every new book starts with: the default products, one per repayment method."""

from __future__ import annotations

from decimal import Decimal

from daihou.domain.products import DEFAULT_PRODUCT, Product, RepaymentMethod
from daihou.service.ports import UnitOfWork

DEFAULT_PRODUCTS: tuple[Product, ...] = (
    DEFAULT_PRODUCT,
    Product("CONSUMER", "个人消费贷", RepaymentMethod.EQUAL_INSTALLMENT, grace_days=3, cap_profile="licensed_lender"),
    Product("MORTGAGE", "个人住房贷款", RepaymentMethod.EQUAL_PRINCIPAL),
    Product("SME_REVOLVE", "小微企业经营贷", RepaymentMethod.INTEREST_ONLY, penalty_multiplier=Decimal("1.3")),
    Product("BRIDGE", "短期周转贷", RepaymentMethod.BULLET),
)


def seed_products(uow: UnitOfWork) -> list[str]:
    """Add the default products that are missing; returns the codes added."""
    added = []
    with uow:
        for product in DEFAULT_PRODUCTS:
            if uow.products.get(product.code) is None:
                uow.products.add(product)
                added.append(product.code)
        uow.commit()
    return added
