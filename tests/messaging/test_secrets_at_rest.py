"""Hole (issue 9 §3): the robots' webhook URLs (with their key / access token) and DingTalk signing
secrets were stored in plain text and shown in full on the admin change page. Now they are
encrypted at rest (GUANXI_ENCRYPTION_KEY, core/crypto.py), sending still works, and the settings
page never echoes them back."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations import RunPython

from guanxi.core import crypto
from guanxi.messaging.actions import notify_robots
from guanxi.messaging.models import ChannelKind, RobotEndpoint
from tests.conftest import drain
from tests.factories import PASSWORD

TOKEN = "ding-token-0123456789"
SECRET = "SECabcdef0123456789"


def _raw(pk: int) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT url, secret FROM messaging_robotendpoint WHERE id = %s", [pk])
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_robot_credentials_are_encrypted_in_the_column_and_sending_still_works(org, queue, robot_server):
    drain(queue)
    robot = RobotEndpoint.objects.create(
        name="服务群", channel=ChannelKind.DINGTALK, url=robot_server.url(f"/robot/send?access_token={TOKEN}"),
        secret=SECRET,
    )  # fmt: skip
    url, secret = _raw(robot.pk)
    assert TOKEN not in url and SECRET not in secret
    assert url.startswith(crypto.PREFIX) and secret.startswith(crypto.PREFIX)
    assert RobotEndpoint.objects.get(pk=robot.pk).secret == SECRET
    notify_robots("测试", title="加密")
    assert drain(queue) == ["sent"]
    [call] = robot_server.received("/robot/send")
    assert call.query["access_token"] == [TOKEN] and "sign" in call.query


@pytest.mark.django_db
def test_the_admin_never_echoes_the_url_key_or_the_secret(org, client):
    robot = RobotEndpoint.objects.create(
        name="群", channel=ChannelKind.DINGTALK, url=f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}",
        secret=SECRET,
    )  # fmt: skip
    client.login(username=org.admin.username, password=PASSWORD)
    html = client.get(f"/admin/messaging/robotendpoint/{robot.pk}/change/").content.decode()
    assert TOKEN not in html and SECRET not in html
    assert "https://oapi.dingtalk.com/robot/send" in html  # the address without its key
    # Saving with both fields left empty keeps them.
    response = client.post(
        f"/admin/messaging/robotendpoint/{robot.pk}/change/",
        {"name": "群2", "channel": "dingtalk", "url": "", "secret": "", "department": "", "is_active": "on"},
    )
    assert response.status_code == 302
    robot.refresh_from_db()
    assert (robot.name, robot.url.endswith(TOKEN), robot.secret) == ("群2", True, SECRET)


@pytest.mark.django_db
def test_the_data_migration_encrypts_rows_written_in_clear(org):
    robot = RobotEndpoint.objects.create(name="旧", channel=ChannelKind.WECOM, url="https://x.example/?key=k")
    with connection.cursor() as cursor:  # as a row written before encryption
        cursor.execute(
            "UPDATE messaging_robotendpoint SET url = %s, secret = %s WHERE id = %s",
            ["https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=plain-key", "plain-secret", robot.pk],
        )
    robot.refresh_from_db()
    assert robot.url.endswith("plain-key")  # read as it is until migrated
    migration = importlib.import_module("guanxi.messaging.migrations.0002_encrypt_robot_endpoint_secrets")
    (step,) = [op for op in migration.Migration.operations if isinstance(op, RunPython)]
    step.code(apps, None)
    url, secret = _raw(robot.pk)
    assert "plain-key" not in url and "plain-secret" not in secret
    robot.refresh_from_db()
    assert (robot.url.endswith("plain-key"), robot.secret) == (True, "plain-secret")
    step.reverse_code(apps, None)
    assert _raw(robot.pk)[1] == "plain-secret"


def test_keys_rotate_and_a_wrong_key_is_a_clear_error(settings):
    from cryptography.fernet import Fernet
    from django.core.exceptions import ImproperlyConfigured

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [old]
    stored = crypto.encrypt("s3cret")
    settings.ENCRYPTION_KEYS = [new, old]  # a new key first, the old one still decrypts
    assert crypto.decrypt(stored) == "s3cret"
    rotated = crypto.rotate(stored)
    settings.ENCRYPTION_KEYS = [new]
    assert crypto.decrypt(rotated) == "s3cret"
    with pytest.raises(ImproperlyConfigured):
        crypto.decrypt(stored)
    assert crypto.mask("whsec_abcdefghijklmnop") == "…mnop" and crypto.mask("short") == "…"
