"""Runs braze-inc/growth-shares-lambda-user-csv-import as published, on a local CSV, against the bench's sandbox.

Usage: python3 driver.py <importer checkout> <csv file> <threads>
Environment: BRAZE_API_URL, BRAZE_API_KEY (read by the importer at import time). PYTHONPATH must start with the
boto3 stub folder (tools/bench/peer/stubs). Prints one JSON line: {"users": N, "seconds": S}.
"""
import json
import os
import sys
import time


class _Context:
    """A Lambda context that never runs out of time, so one invocation reads the whole file."""
    function_name = 'bench-peer'

    def get_remaining_time_in_millis(self):
        return 15 * 60 * 1000


def main():
    checkout, csv_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.path.insert(0, checkout)
    import braze_user_csv_import.app as app  # noqa: E402  (the importer reads its settings at import time)

    app.MAX_THREADS = threads
    event = {'Records': [{'s3': {'bucket': {'name': os.path.dirname(os.path.abspath(csv_path))},
                                 'object': {'key': os.path.basename(csv_path)}}}]}
    started = time.monotonic()
    result = app.lambda_handler(event, _Context())
    if not result['is_finished']:
        sys.exit('the importer stopped before the end of the file')
    print(json.dumps({'users': result['users_processed'], 'seconds': time.monotonic() - started}))


if __name__ == '__main__':
    main()
