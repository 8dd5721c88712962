"""The warehouse home: what is in stock, what came in lately, what waits for assembly."""

from stock import selectors as stock_selectors


def warehouse_home() -> dict:
    return {
        "statuses": [status.label for status in stock_selectors.WAREHOUSE_STATUSES],
        "counts": stock_selectors.stock_counts(),
        "receipts": stock_selectors.recent_receipts(limit=10),
        "waiting_cases": stock_selectors.cases_waiting_for_assembly()[:50],
        "open_orders": stock_selectors.open_orders()[:20],
        "low_stock": stock_selectors.open_low_stock_alerts(),
    }
