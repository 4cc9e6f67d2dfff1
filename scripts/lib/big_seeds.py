"""Writes large seed bodies for the envelope fuzz target (not committed: ~2 MB).

Each is a Cal.com-shaped webhook near MAX_BODY_BYTES (1 MiB) whose text is
escape-heavy and wide, so that a mutation away from the notification's byte
bound is within the fuzzer's reach.
"""
import json
import os
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
wide = "\u0001\U0001F600\"<" * 500
attendees = [{"name": wide, "email": f"a{i}@example.org", "timeZone": wide} for i in range(40)]
responses = {f"q{i}": {"label": wide, "value": wide} for i in range(40)}
seeds = {
    "big-booking.json": {
        "triggerEvent": "BOOKING_CREATED",
        "createdAt": "2026-11-20T09:30:00.538Z",
        "payload": {"uid": "big", "title": wide, "startTime": "2026-11-25T15:00:00Z",
                    "attendees": attendees, "additionalNotes": wide},
    },
    "big-form.json": {
        "triggerEvent": "FORM_SUBMITTED",
        "createdAt": "2026-11-20T09:30:00.538Z",
        "payload": {"formId": "f", "formName": wide, "responses": responses},
    },
}
for name, body in seeds.items():
    data = json.dumps(body).encode()
    assert len(data) < 1_100_000, (name, len(data))
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
