"""The two-level incident taxonomy (大类 / 小类) used by the demo city and the loader.

Each small item: code (parent code + 2 digits), Chinese name, English label, the hours its
SLA allows, the kind of unit that handles it, and its season, which the synthetic city uses
for the yearly rhythm ("winter": snow and ice, Dec-Feb; "heating": the heating period,
mid-Oct to mid-Apr in Harbin; "summer": Jun-Aug; "all": no season).
"""

from __future__ import annotations

from typing import NamedTuple


class Category(NamedTuple):
    code: str
    parent_code: str | None
    name_zh: str
    name_en: str
    sla_hours: float
    unit_kind: str
    season: str


# top level: code, Chinese, English, default unit kind
_TOP = [
    ("01", "市容环境", "City appearance", "urban_management"),
    ("02", "设施管理", "Public facilities", "utilities"),
    ("03", "治安隐患", "Public security hazards", "police"),
    ("04", "矛盾纠纷", "Disputes", "civil_affairs"),
    ("05", "消防安全", "Fire safety", "fire"),
    ("06", "民生服务", "Livelihood services", "civil_affairs"),
    ("07", "环境保护", "Environmental protection", "environment"),
    ("08", "交通秩序", "Traffic order", "traffic"),
    ("09", "冬季保障", "Winter services", "sanitation"),
    ("10", "市场监管", "Market supervision", "market"),
    ("11", "房屋安全", "Housing safety", "housing"),
]

# small items per top level: (Chinese, English, sla hours, unit kind or None, season)
_ITEMS: dict[str, list[tuple[str, str, float, str | None, str]]] = {
    "01": [
        ("暴露垃圾", "Exposed rubbish", 24, "sanitation", "all"),
        ("积存垃圾渣土", "Accumulated rubbish and muck", 48, "sanitation", "all"),
        ("垃圾满溢", "Overflowing bins", 12, "sanitation", "all"),
        ("道路不洁", "Dirty road", 24, "sanitation", "all"),
        ("水域不洁", "Dirty water surface", 72, "environment", "summer"),
        ("绿地脏乱", "Messy green space", 48, "sanitation", "summer"),
        ("乱张贴", "Illegal posters", 48, None, "all"),
        ("乱涂写", "Graffiti", 72, None, "all"),
        ("乱堆物堆料", "Illegal stacking of materials", 48, None, "all"),
        ("占道经营", "Street vending on the road", 4, None, "summer"),
        ("店外经营", "Business spilling out of shops", 8, None, "summer"),
        ("流动摊贩", "Mobile hawkers", 4, None, "summer"),
        ("露天烧烤", "Open-air barbecue", 4, None, "summer"),
        ("违规户外广告", "Illegal outdoor advertising", 120, None, "all"),
        ("非法小广告", "Illegal small ads", 48, None, "all"),
        ("沿街晾挂", "Laundry hung along the street", 48, None, "summer"),
        ("违章建筑", "Illegal construction", 168, None, "all"),
        ("建筑垃圾乱倒", "Dumped construction waste", 24, "sanitation", "all"),
        ("动物尸体", "Animal carcass", 6, "sanitation", "all"),
        ("公厕不洁", "Dirty public toilet", 24, "sanitation", "all"),
        ("废弃车辆", "Abandoned vehicle", 168, "traffic", "all"),
        ("散落物", "Spilled load on the road", 6, "sanitation", "all"),
    ],
    "02": [
        ("井盖缺失", "Missing manhole cover", 2, "utilities", "all"),
        ("井盖破损", "Broken manhole cover", 12, "utilities", "all"),
        ("雨水篦子破损", "Broken storm drain grate", 24, "utilities", "rain"),
        ("路面破损", "Damaged road surface", 72, "utilities", "all"),
        ("人行道破损", "Damaged sidewalk", 72, "utilities", "all"),
        ("路灯不亮", "Street light out", 48, "utilities", "all"),
        ("路灯破损", "Damaged street light", 72, "utilities", "all"),
        ("供水管道漏水", "Water main leak", 6, "utilities", "all"),
        ("停水", "Water outage", 12, "utilities", "all"),
        ("燃气泄漏", "Gas leak", 1, "utilities", "all"),
        ("电力线路隐患", "Power line hazard", 4, "utilities", "all"),
        ("通信线缆乱挂", "Loose telecom cables", 72, "utilities", "all"),
        ("公交站亭破损", "Damaged bus shelter", 72, "traffic", "all"),
        ("护栏破损", "Damaged guardrail", 48, "traffic", "all"),
        ("健身器材损坏", "Broken fitness equipment", 120, "civil_affairs", "all"),
        ("座椅损坏", "Broken bench", 120, "sanitation", "all"),
        ("垃圾箱破损", "Broken litter bin", 72, "sanitation", "all"),
        ("排水不畅", "Blocked drainage", 12, "utilities", "rain"),
        ("道路积水", "Flooded road", 6, "utilities", "rain"),
        ("树木倒伏", "Fallen tree", 6, "sanitation", "rain"),
        ("树木缺株死株", "Missing or dead street tree", 168, "sanitation", "summer"),
        ("消火栓损坏", "Damaged hydrant", 24, "fire", "all"),
        ("监控设施损坏", "Broken surveillance camera", 72, "police", "all"),
    ],
    "03": [
        ("可疑人员", "Suspicious person", 1, "police", "all"),
        ("盗窃线索", "Theft lead", 4, "police", "all"),
        ("电动车入户充电", "E-bike charged indoors", 24, "fire", "all"),
        ("电动车飞线充电", "E-bike charged by hanging cable", 12, "fire", "all"),
        ("群租房", "Overcrowded rental", 72, "police", "all"),
        ("出租屋未登记", "Unregistered rental", 168, "police", "all"),
        ("非法集会苗头", "Signs of illegal gathering", 1, "police", "all"),
        ("涉赌线索", "Gambling lead", 24, "police", "all"),
        ("涉毒线索", "Drug lead", 24, "police", "all"),
        ("传销线索", "Pyramid-scheme lead", 72, "police", "all"),
        ("电信诈骗线索", "Telecom fraud lead", 24, "police", "all"),
        ("重点人员异常", "Anomaly of a person under watch", 4, "police", "all"),
        ("高空抛物", "Objects thrown from height", 12, "police", "all"),
        ("寄递物流隐患", "Parcel logistics hazard", 72, "police", "all"),
        ("危险物品存放", "Dangerous goods stored", 6, "police", "all"),
        ("校园周边隐患", "Hazard near a school", 12, "police", "all"),
        ("无人机违规飞行", "Unauthorised drone flight", 4, "police", "summer"),
        ("流浪乞讨", "Vagrancy and begging", 24, "civil_affairs", "all"),
    ],
    "04": [
        ("邻里纠纷", "Neighbour dispute", 72, None, "all"),
        ("家庭纠纷", "Family dispute", 72, None, "all"),
        ("婚恋纠纷", "Relationship dispute", 72, None, "all"),
        ("物业纠纷", "Property management dispute", 120, "housing", "all"),
        ("劳资纠纷", "Wage dispute", 72, None, "all"),
        ("欠薪讨薪", "Unpaid wages", 48, None, "all"),
        ("土地纠纷", "Land dispute", 168, None, "all"),
        ("征收拆迁纠纷", "Expropriation dispute", 168, "housing", "all"),
        ("消费纠纷", "Consumer dispute", 72, "market", "all"),
        ("医患纠纷", "Doctor-patient dispute", 72, "health", "all"),
        ("交通事故纠纷", "Traffic accident dispute", 48, "traffic", "all"),
        ("租赁纠纷", "Tenancy dispute", 120, "housing", "all"),
        ("宠物扰民纠纷", "Pet nuisance dispute", 72, None, "all"),
        ("噪声扰民纠纷", "Noise dispute", 24, "environment", "all"),
        ("停车纠纷", "Parking dispute", 48, "traffic", "all"),
        ("装修纠纷", "Renovation dispute", 72, "housing", "all"),
        ("继承赡养纠纷", "Inheritance and elder support dispute", 168, None, "all"),
        ("信访苗头", "Signs of a petition", 24, None, "all"),
    ],
    "05": [
        ("消防通道堵塞", "Blocked fire lane", 4, "fire", "all"),
        ("楼道堆放杂物", "Stairwell cluttered", 24, "fire", "all"),
        ("消防设施缺失", "Missing fire equipment", 48, "fire", "all"),
        ("灭火器过期", "Expired extinguisher", 72, "fire", "all"),
        ("安全出口锁闭", "Locked emergency exit", 4, "fire", "all"),
        ("违规用火", "Unsafe open flame", 2, "fire", "heating"),
        ("违规用电", "Unsafe electrical wiring", 12, "fire", "all"),
        ("燃气使用隐患", "Unsafe gas use", 4, "utilities", "heating"),
        ("烟花爆竹违规", "Illegal fireworks", 2, "fire", "winter"),
        ("秸秆焚烧", "Straw burning", 2, "environment", "all"),
        ("九小场所消防隐患", "Fire hazard in a small place", 24, "fire", "all"),
        ("仓库火灾隐患", "Warehouse fire hazard", 24, "fire", "all"),
        ("高层建筑消防隐患", "High-rise fire hazard", 24, "fire", "all"),
        ("彩钢板房隐患", "Steel sandwich-panel shed hazard", 72, "fire", "all"),
        ("液化气瓶隐患", "LPG cylinder hazard", 6, "fire", "heating"),
        ("火情", "Fire", 0.5, "fire", "all"),
        ("烟雾报警", "Smoke alarm", 0.5, "fire", "all"),
    ],
    "06": [
        ("独居老人关怀", "Elderly living alone needs care", 24, None, "all"),
        ("特困人员救助", "Assistance for the destitute", 72, None, "all"),
        ("残疾人服务", "Service for a disabled person", 72, None, "all"),
        ("低保申请", "Minimum-income application", 168, None, "all"),
        ("就业援助", "Employment assistance", 168, None, "all"),
        ("医疗救助", "Medical assistance", 48, "health", "all"),
        ("养老服务", "Elderly care service", 72, None, "all"),
        ("儿童关爱", "Child care concern", 48, None, "all"),
        ("退役军人服务", "Veteran service", 168, None, "all"),
        ("证照代办", "Document errand", 168, None, "all"),
        ("社保咨询", "Social insurance enquiry", 72, None, "all"),
        ("户籍咨询", "Household registration enquiry", 72, "police", "all"),
        ("心理疏导", "Counselling need", 48, "health", "all"),
        ("临时救助", "Emergency relief", 12, None, "winter"),
        ("助餐服务", "Meal service", 48, None, "all"),
        ("就医陪护", "Hospital escort", 48, "health", "all"),
        ("防疫服务", "Disease-prevention service", 24, "health", "winter"),
    ],
    "07": [
        ("噪声扰民", "Noise nuisance", 12, "environment", "all"),
        ("夜间施工噪声", "Night construction noise", 4, "environment", "summer"),
        ("油烟扰民", "Cooking fumes nuisance", 48, "environment", "all"),
        ("异味扰民", "Odour nuisance", 24, "environment", "summer"),
        ("污水直排", "Raw sewage discharge", 12, "environment", "all"),
        ("扬尘污染", "Dust pollution", 12, "environment", "all"),
        ("工地未苫盖", "Uncovered construction site", 24, "environment", "all"),
        ("露天焚烧", "Open burning", 2, "environment", "all"),
        ("散煤燃烧", "Loose-coal burning", 24, "environment", "heating"),
        ("锅炉冒黑烟", "Boiler black smoke", 12, "environment", "heating"),
        ("河道污染", "River pollution", 48, "environment", "summer"),
        ("危险废物", "Hazardous waste", 6, "environment", "all"),
        ("餐厨垃圾乱倒", "Kitchen waste dumped", 24, "sanitation", "all"),
        ("毁绿占绿", "Damaged green space", 72, "sanitation", "summer"),
        ("犬只扰民", "Dog nuisance", 48, "police", "all"),
        ("蚊蝇孳生", "Mosquito and fly breeding", 72, "health", "summer"),
    ],
    "08": [
        ("违章停车", "Illegal parking", 2, "traffic", "all"),
        ("占用盲道", "Blind lane blocked", 12, "traffic", "all"),
        ("非机动车乱停放", "Disorderly bicycle parking", 12, "traffic", "summer"),
        ("共享单车堆积", "Shared bikes piled up", 12, "traffic", "summer"),
        ("交通信号灯故障", "Traffic light fault", 2, "traffic", "all"),
        ("交通标志损坏", "Damaged traffic sign", 48, "traffic", "all"),
        ("道路标线不清", "Faded road markings", 168, "traffic", "all"),
        ("占道施工", "Roadworks occupying the road", 24, "traffic", "summer"),
        ("黑出租", "Unlicensed taxi", 24, "traffic", "all"),
        ("拥堵点", "Congestion point", 4, "traffic", "all"),
        ("僵尸车", "Zombie car", 168, "traffic", "all"),
        ("校园门口交通", "School-gate traffic", 4, "traffic", "all"),
        ("电动车违规载人", "E-bike carrying passengers illegally", 24, "traffic", "summer"),
        ("货车违规通行", "Lorry in a restricted zone", 6, "traffic", "all"),
    ],
    "09": [
        ("道路积雪", "Snow on the road", 6, "sanitation", "winter"),
        ("人行道积雪", "Snow on the sidewalk", 12, "sanitation", "winter"),
        ("路面结冰", "Ice on the road", 4, "sanitation", "winter"),
        ("屋檐冰溜", "Icicles on eaves", 6, "housing", "winter"),
        ("楼顶积雪", "Snow load on the roof", 24, "housing", "winter"),
        ("冰雪堆放不当", "Snow piled improperly", 24, "sanitation", "winter"),
        ("供暖不热", "Radiators not warm", 24, "utilities", "heating"),
        ("供暖管道漏水", "Heating pipe leak", 6, "utilities", "heating"),
        ("供暖中断", "Heating cut off", 6, "utilities", "heating"),
        ("供暖收费争议", "Heating fee dispute", 120, "utilities", "heating"),
        ("水管冻裂", "Frozen burst pipe", 6, "utilities", "winter"),
        ("下水冻堵", "Frozen drain", 12, "utilities", "winter"),
        ("融雪剂投放", "De-icing salt needed", 12, "sanitation", "winter"),
        ("冰雪景观隐患", "Ice sculpture hazard", 24, "urban_management", "winter"),
        ("一氧化碳中毒风险", "Carbon monoxide risk", 1, "fire", "heating"),
        ("无供暖困难户", "Household without heating", 12, None, "heating"),
    ],
    "10": [
        ("无证经营", "Unlicensed business", 72, "market", "all"),
        ("食品安全隐患", "Food safety hazard", 12, "market", "summer"),
        ("过期食品", "Expired food on sale", 24, "market", "all"),
        ("价格违法", "Illegal pricing", 72, "market", "all"),
        ("虚假宣传", "False advertising", 72, "market", "all"),
        ("计量作弊", "Short weight", 48, "market", "all"),
        ("假冒伪劣", "Counterfeit goods", 72, "market", "all"),
        ("药品违规销售", "Illegal drug sales", 24, "market", "all"),
        ("特种设备隐患", "Special equipment hazard", 12, "market", "all"),
        ("电梯故障", "Elevator fault", 4, "market", "all"),
        ("电梯困人", "Person trapped in elevator", 0.5, "fire", "all"),
        ("校外培训违规", "Illegal tutoring", 72, "market", "all"),
        ("网吧接纳未成年人", "Internet cafe admitting minors", 24, "market", "all"),
        ("烟草违规销售", "Illegal tobacco sales", 72, "market", "all"),
    ],
    "11": [
        ("危房隐患", "Dangerous building", 24, "housing", "all"),
        ("外墙脱落", "Facade falling off", 6, "housing", "all"),
        ("屋面漏雨", "Leaking roof", 72, "housing", "rain"),
        ("楼道灯不亮", "Stairwell light out", 72, "housing", "all"),
        ("单元门损坏", "Broken entrance door", 72, "housing", "all"),
        ("二次供水问题", "Secondary water supply problem", 24, "housing", "all"),
        ("化粪池满溢", "Septic tank overflow", 12, "housing", "summer"),
        ("违规改建", "Illegal alteration", 168, "housing", "all"),
        ("老旧小区改造诉求", "Old-estate renovation request", 168, "housing", "all"),
        ("物业缺位", "No property management", 168, "housing", "all"),
        ("阳台违建", "Illegal balcony enclosure", 168, "housing", "all"),
        ("地下室住人", "People living in a basement", 72, "housing", "all"),
        ("围墙倒塌隐患", "Wall collapse hazard", 12, "housing", "rain"),
    ],
}


def categories() -> list[Category]:
    """Every category, top level first then its items, in code order.

    Examples
    --------
    >>> cats = categories()
    >>> cats[0].name_en, cats[1].code, cats[1].parent_code
    ('City appearance', '0101', '01')
    """
    out: list[Category] = []
    for code, zh, en, unit in _TOP:
        out.append(Category(code, None, zh, en, 72.0, unit, "all"))
        for i, (izh, ien, sla, iunit, season) in enumerate(_ITEMS[code], start=1):
            out.append(
                Category(f"{code}{i:02d}", code, izh, ien, float(sla), iunit or unit, season)
            )
    return out


def leaf_categories() -> list[Category]:
    return [c for c in categories() if c.parent_code is not None]
