"""News from the asset model for the apps above it, which connect receivers in their AppConfig.ready."""

from django.dispatch import Signal

# Sent by assets.services, inside the writer's transaction, with ``installations``: the Installation rows
# just opened or closed (an install, a removal, both halves of a swap), whatever the path (forms, API,
# admin, a direct call) and whatever their time, past or present; and ``user``, who recorded them.
installations_changed = Signal()
