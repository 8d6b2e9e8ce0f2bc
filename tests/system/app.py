"""The production factory with two extra handlers, for the multi-process tests only.

`customer.created` appends one line per run to $TATAME_TEST_HANDLER_LOG, so a test can
count how often the handler really ran across workers. `customer.updated` hangs on its
first run (after writing its worker's pid to $TATAME_TEST_SLOW_MARKER) so a test can kill
the worker mid-handler; later runs finish at once.
"""

import os
import time

from app import create_app
from app.services.webhook_handlers import HANDLERS
from config import Config


def counting(event, ctx):
    with open(os.environ["TATAME_TEST_HANDLER_LOG"], "a") as log:
        log.write(f"{event['id']} {os.getpid()}\n")
    time.sleep(0.05)


def slow_first_time(event, ctx):
    marker = os.environ["TATAME_TEST_SLOW_MARKER"]
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(120)


app = create_app(Config.from_env(), handlers={**HANDLERS, "customer.created": counting,
                                             "customer.updated": slow_first_time})
