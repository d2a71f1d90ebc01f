"""The actions of automation: saving rules (rules), firing them (engine), time triggers (sweeps)."""
