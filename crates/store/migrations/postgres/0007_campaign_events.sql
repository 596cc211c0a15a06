-- Outbound campaigns and the do-not-call list are rebuilt from their events at start: an
-- index that finds them without reading the calls' events.
CREATE INDEX events_campaign ON events (seq) WHERE stream = 'campaign';
