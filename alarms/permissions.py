"""Who may do what with alarms (granted to the roles by migration 0002)."""

VIEW_ALARMS = "alarms.view_alarm"
ACKNOWLEDGE_ALARMS = "alarms.acknowledge_alarm"
