"""Invented names for people, streets, communities and places (vectorised)."""

from __future__ import annotations

import numpy as np

# Common surnames, most frequent first, with rough relative weights.
SURNAMES = list(
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
    "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史"
    "顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
_SURNAME_W = 1.0 / np.arange(1, len(SURNAMES) + 1) ** 0.9
GIVEN = list(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬辉建国志文斌"
    "宇浩然子轩欣怡梓涵一诺思远博文雨萱佳琪晨阳雪梅淑珍凤兰桂芝海燕丹宏亮鹏飞鑫波"
)
SYLLABLES = list("安和兴平新华民建顺康乐福丰永长春光明东西南北中友谊红旗胜利工农保通达正阳景")
PLACE_WORDS = {
    "small_shop": ("便利店", "超市", "小卖部", "烟酒店"),
    "small_eatery": ("饺子馆", "面馆", "烧烤店", "家常菜馆", "包子铺"),
    "small_hotel": ("宾馆", "旅店", "招待所"),
    "small_entertainment": ("KTV", "棋牌室", "足疗店"),
    "internet_cafe": ("网吧", "网咖"),
    "small_clinic": ("诊所", "药店"),
    "small_school": ("培训班", "托管班"),
    "small_workshop": ("修车铺", "加工厂", "维修部"),
    "small_warehouse": ("仓库", "物流点"),
    "hydrant": ("消火栓",),
    "camera": ("监控点",),
    "hazard": ("隐患点",),
}


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """n invented Chinese personal names (surname + one or two given characters)."""
    sur = np.array(SURNAMES)[rng.choice(len(SURNAMES), n, p=_SURNAME_W / _SURNAME_W.sum())]
    given = np.array(GIVEN)
    g1 = given[rng.integers(0, len(given), n)]
    g2 = np.where(rng.random(n) < 0.7, given[rng.integers(0, len(given), n)], "")
    return np.char.add(np.char.add(sur, g1), g2)


def area_names(rng: np.random.Generator, n: int, suffix: str) -> list[str]:
    """n distinct two-syllable names with a suffix such as 街道 or 社区."""
    syl = SYLLABLES
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        a, b = syl[rng.integers(len(syl))], syl[rng.integers(len(syl))]
        name = f"{a}{b}{suffix}"
        if a != b and name not in seen:
            seen.add(name)
            out.append(name)
        if len(seen) > len(syl) ** 2 - 2 * len(syl):  # exhausted: number them
            out.append(f"{a}{b}{len(out)}{suffix}")
    return out
