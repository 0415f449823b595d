"""What the file ledger holds: files per state, every ignored upload and every file that failed
for good with its reason, every file not yet decided (shown by ``status``)."""

from __future__ import annotations

from devstack.core.stack_config import StackConfig
from music_streaming import config
from music_streaming import ledger as file_ledger


def ledger_report(cfg: StackConfig, settings: dict | None = None) -> str:
    settings = config.settings(settings)
    ledger = file_ledger.Ledger(
        cfg.resource("dynamodb").Table(
            config.file_tracker_table(str(settings["dynamodb_table_name"]))
        )
    )
    by_state = {state: ledger.in_state(state) for state in file_ledger.STATES}
    lines = ["file ledger: " + ", ".join(f"{s} {len(i)}" for s, i in by_state.items())]
    for item in by_state[file_ledger.IGNORED]:
        lines.append(f"  ignored  s3://{item['bucket']}/{item['key']}: {item.get('reason')}")
    for item in by_state[file_ledger.FAILED]:
        lines.append(
            f"  failed   s3://{item['bucket']}/{item['key']}: {item.get('reason')} "
            "(scripts/retry puts it back)"
        )
    for state, items in by_state.items():
        if state not in file_ledger.TERMINAL:
            lines += [
                f"  {state.lower():<8} s3://{i['bucket']}/{i['key']} (batch "
                f"{i.get('batch_id', '-')}, since {i['updated_at']}"
                + (f", attempt {int(i['attempts']) + 1}" if i.get("attempts") else "")
                + ")"
                for i in items
            ]
    return "\n".join(lines)
