-- How many addresses the email of a delivery went to (the staff copy's To
-- list, 1 for an attendee's copy), shown in the booking timeline.
ALTER TABLE deliveries ADD COLUMN recipients INTEGER;
-- Whether an event was emailed about (NOTIFY_EVENTS) or only recorded.
ALTER TABLE booking_events ADD COLUMN outcome TEXT;
