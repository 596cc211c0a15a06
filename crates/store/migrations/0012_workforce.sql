-- Workforce planning: the published schedule is rebuilt from its events (stream
-- `workforce`) when the API starts, and adherence reads the agents' state changes of a day:
-- an index for each, so neither reads the calls' events.
CREATE INDEX events_workforce ON events (seq) WHERE stream = 'workforce';
CREATE INDEX events_agent_by_time ON events (at_ns) WHERE stream = 'agent';
