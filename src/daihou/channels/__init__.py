"""Channels: how a message leaves daihou. `ports.py` is what the workflow sees; the adapters are
SMTP e-mail (`email.py`), an HTTP SMS gateway in the style of Aliyun SendSms (`sms.py`), the borrower
portal's inbox (`inbox.py`) and the robot-call task queue (`robot_call.py`). Only
`daihou.workflow.reminders.build` wires adapters, from `ChannelSettings` (`settings.py`).
"""
