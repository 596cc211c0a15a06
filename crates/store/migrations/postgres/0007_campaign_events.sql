-- Outbound campaigns and the do-not-call list are rebuilt from their events at start: an
-- index that finds them without reading the calls' events, and one that finds the
-- campaigns' own calls (their trunk is `campaign:{id}`), whose attempts count on.
CREATE INDEX events_campaign ON events (seq) WHERE stream = 'campaign';
CREATE INDEX interactions_campaign ON interactions (trunk) WHERE trunk LIKE 'campaign:%';
