"""An agent's temporary folder goes at the end, whether or not its logs were asked for elsewhere."""

from __future__ import annotations

import logging

from bench.hosts.agent_workspace import agent_workspace


def test_the_work_folder_is_removed_and_logs_asked_for_are_kept(tmp_path):
    logs = tmp_path / "logs"
    with agent_workspace("bench-test-", logs, "agent.log") as (work_dir, log_dir):
        (work_dir / "records.jsonl").write_text("{}\n")
        logging.getLogger("bench").info("hello from the agent")
        assert log_dir == logs and work_dir.exists()
    assert not work_dir.exists()
    assert (logs / "agent.log").exists()


def test_without_a_log_folder_the_logs_go_with_the_work_folder():
    with agent_workspace("bench-test-", None, "agent.log") as (work_dir, log_dir):
        assert log_dir == work_dir
    assert not work_dir.exists()
