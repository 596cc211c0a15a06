-- Supervisors' monitoring of a call (each start, mode change, stop, takeover), as a JSON
-- array of entries on its record.
ALTER TABLE interactions ADD COLUMN monitoring TEXT NOT NULL DEFAULT '[]';
