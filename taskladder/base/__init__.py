"""The contracts every stage shares: the validated config (`config`, defaults in schemas/ only), the metrics table
between the stages (`metrics_table`), names that become paths (`names`), canonical job params (`params`), atomic
writes with the user's umask and the results layout's roots (`files`), logging and the scripts' frame (`log`).

Imports: nothing of taskladder (the bottom layer).
"""
