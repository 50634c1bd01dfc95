"""The feedback store on a real PostgreSQL server (Debian's postgresql package), started by the test itself.

Skips, saying why, where the server binaries, the psycopg driver or a non-root user to run it are missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url(tmp_path_factory):
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install 'routellm-plugin[feedback]')")
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    bindir = os.path.dirname(bins[-1])
    prefix: list[str] = []
    root = tmp_path_factory.mktemp("pg")
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as the package's postgres user
        runuser = shutil.which("runuser")
        try:
            import pwd

            user = pwd.getpwnam("postgres")
        except KeyError:
            user = None
        if runuser is None or user is None:
            pytest.skip("running as root without a 'postgres' user and runuser to start the server")
        os.chmod(root, 0o777)
        for parent in list(root.parents)[:3]:
            os.chmod(parent, os.stat(parent).st_mode | 0o711)
        prefix = [runuser, "-u", "postgres", "--"]
    data = root / "data"
    port = _free_port()
    subprocess.run([*prefix, f"{bindir}/initdb", "-D", str(data), "-U", "routellm", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True, timeout=120)
    server = subprocess.Popen([*prefix, f"{bindir}/postgres", "-D", str(data), "-p", str(port), "-k", str(root),
                               "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"postgresql+psycopg://routellm@127.0.0.1:{port}/postgres"
    try:
        import sqlalchemy as sa

        deadline = time.monotonic() + 60
        while True:
            try:
                sa.create_engine(url).connect().close()
                break
            except sa.exc.OperationalError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.skip("the PostgreSQL server did not start")
                time.sleep(0.2)
        yield url
    finally:
        subprocess.run([*prefix, f"{bindir}/pg_ctl", "stop", "-D", str(data), "-m", "fast", "-w"],
                       capture_output=True, timeout=60)  # runuser does not pass signals on: ask pg_ctl
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def test_feedback_store_on_postgresql(postgres_url):
    from routellm_core.own_router.feedback import FeedbackStore, feedback_records

    pair = {"strong_model": "strong-model", "weak_model": "weak-model"}
    replica_a, replica_b = FeedbackStore(postgres_url), FeedbackStore(postgres_url)  # two replicas, one database
    replica_a.record("d1", 0.0, "Prove it.", "weak-model", role="weak", metadata=pair)
    replica_b.record("d2", 1.0, "Hi!", "weak-model", role="weak", metadata={**pair, "propensity": 0.9})
    rows = replica_a.rows()
    assert [(r.decision_id, r.score, r.metadata.get("propensity")) for r in rows] == [("d1", 0.0, None),
                                                                                     ("d2", 1.0, 0.9)]
    records = {r.prompt: r for r in feedback_records(rows)}
    assert records["Prove it."].outcome > 0.5 > records["Hi!"].outcome
    replica_a.close()
    replica_b.close()
