"""Worker tasks of the notification centre (Huey)."""

from huey.contrib.djhuey import db_task


@db_task()
def send_delivery(delivery_id: int) -> str:
    from guanxi.messaging import channels

    return channels.send(delivery_id)
