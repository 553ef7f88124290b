"""The road every action walks: authorise, record, act, announce, audit (see `pipeline`)."""
