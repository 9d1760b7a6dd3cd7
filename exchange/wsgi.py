import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")
django_application = get_wsgi_application()

from orders.hot_path import HotPathApplication  # noqa: E402  (needs the apps loaded)

# POST /spot/orders, the hot path, is answered without the framework when it can be; the rest by Django.
application = HotPathApplication(django_application)
