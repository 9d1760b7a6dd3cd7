"""exchange.conf.live(): the settings object the hot path reads, following every override."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.test import override_settings

from exchange.conf import live


def test_live_settings_read_what_the_proxy_reads_and_follow_overrides(settings):
    assert live().ENGINE_QUEUE_MAX == django_settings.ENGINE_QUEUE_MAX
    settings.ENGINE_QUEUE_MAX = 7  # pytest-django's fixture
    assert live().ENGINE_QUEUE_MAX == 7
    with override_settings(ENGINE_QUEUE_MAX=3, REDIS_KEY_PREFIX="elsewhere"):
        assert (live().ENGINE_QUEUE_MAX, live().REDIS_KEY_PREFIX) == (3, "elsewhere")
        assert live().DEBUG == django_settings.DEBUG  # not overridden: the defaults behind it
    assert live().ENGINE_QUEUE_MAX == 7
