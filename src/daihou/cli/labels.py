"""Labels for terminal output: Simplified Chinese by default, English with DAIHOU_LOCALE=en."""

from __future__ import annotations

import os

ZH = {
    "schedule_title": "还款计划",
    "no": "期次",
    "due_date": "还款日",
    "principal": "本金",
    "interest": "利息",
    "payment": "应还金额",
    "remaining_principal": "剩余本金",
    "total": "合计",
    "penalty": "罚息",
    "compound": "复利",
    "outstanding": "未还",
    "state": "状态",
    "paid": "已还",
    "overdue": "逾期",
    "due": "到期",
    "future": "未到期",
    "status": "贷款状态",
    "as_of": "业务日期",
    "dpd": "逾期天数",
    "bucket": "账龄",
    "classification": "五级分类",
    "ifrs9_stage": "IFRS 9 阶段",
    "outstanding_principal": "剩余本金",
    "overdue_principal": "逾期本金",
    "overdue_interest": "逾期利息",
    "penalty_interest": "罚息及复利",
    "provision": "拨备",
    "next_due_date": "下一还款日",
    "credit": "溢缴款",
    "active": "正常还款",
    "restructured": "重组",
    "paid_off": "已结清",
    "written_off": "已核销",
    "closed": "已关闭",
    "normal": "正常",
    "special_mention": "关注",
    "substandard": "次级",
    "doubtful": "可疑",
    "loss": "损失",
    "payoff_quote": "提前结清试算",
    "item": "项目",
    "amount": "金额",
    "cost": "催收费用",
    "fee": "费用",
    "future_principal": "未到期本金",
    "current_interest": "当期利息(按日)",
}

EN = {
    "schedule_title": "Repayment schedule",
    "no": "No.",
    "due_date": "Due date",
    "principal": "Principal",
    "interest": "Interest",
    "payment": "Payment",
    "remaining_principal": "Remaining",
    "total": "Total",
    "outstanding": "Outstanding",
    "state": "State",
    "status": "Status",
    "as_of": "As of",
    "dpd": "DPD",
    "ifrs9_stage": "IFRS 9 stage",
    "penalty_interest": "Penalty & compound",
    "next_due_date": "Next due date",
    "credit": "Borrower credit",
    "payoff_quote": "Payoff quote",
    "current_interest": "Running-period interest",
    "future_principal": "Principal not yet due",
    "cost": "Collection costs",
}


def label(key: str) -> str:
    if os.environ.get("DAIHOU_LOCALE", "zh_CN").lower().startswith("en"):
        return EN.get(key, key.replace("_", " ").capitalize() if key.islower() else key)
    return ZH.get(key, key)
