import logging

from celery import shared_task

from stock import services

logger = logging.getLogger(__name__)


@shared_task(name="stock.check_spare_levels", ignore_result=True)
def check_spare_levels():
    raised, cleared = services.spare_levels_check()
    logger.info("Spare levels checked: %d low-stock alerts raised, %d cleared", raised, cleared)
