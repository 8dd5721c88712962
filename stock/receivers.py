"""News from assets, by signal: a component removed in the field goes into the place the form chose, else
the remover's van (services.component_put_away_after_removal); installing a component uses its reservation
up."""

from assets.models import ComponentEvent
from assets.selectors import location_of_position
from stock import services


def put_away_removed_component(sender, instance, created, **kwargs):
    if created and instance.type == ComponentEvent.Type.REMOVED:
        place = location_of_position(position=instance.position, at=instance.occurred_at)
        services.component_put_away_after_removal(
            component=instance.component, user=instance.user, at=instance.occurred_at, place=str(place)
        )


def release_installed_components_reservations(sender, installations, user, **kwargs):
    for installation in installations:
        if installation.removed_at is None:
            services.reservations_release(component=installation.component, user=user)
