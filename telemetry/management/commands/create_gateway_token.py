from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from assets.models import Site
from telemetry import services


class Command(BaseCommand):
    help = "Create an ingest token for a site's gateway and print it once (only its hash is kept)."

    def add_arguments(self, parser):
        parser.add_argument("site", help="The site's PMS id or name.")
        parser.add_argument("--name", default="gateway", help="Name of the gateway (default: gateway).")

    def handle(self, *args, site, name, **options):
        found = Site.objects.filter(pms_id=site).first() or Site.objects.filter(name=site).first()
        if found is None:
            raise CommandError(f"No site has the PMS id or name {site!r}.")
        try:
            _, raw_token = services.gateway_token_create(site=found, name=name)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(raw_token)
