// The workforce page: forecast, requirement, schedule and adherence (being built).
