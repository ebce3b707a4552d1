#!/bin/sh
# The one-shot prestart, run once per new release before it serves (app_stack
# runs it as a job behind a database backup): wait for the database, migrate
# it to the newest revision, write the initial data.
set -eu
python -m app.backend_pre_start
alembic upgrade head
python -m app.initial_data
