"""A simulated participant who takes the study through the Django test client.

It reads each page as a browser without JavaScript would (the select boxes), answers,
and keeps every response it received so tests can scan them.
"""

import random
import re
from html import unescape

from survey.questions import ATTENTION_QUESTIONS

SELECT = re.compile(r'<select id="(rank-[^"]+)" name="(rank-[^"]+)"')
ACTION = re.compile(r'<form method="post" action="([^"]+)" class="ranking"')
ATTENTION = re.compile(r'name="(attention-[\w-]+)" value="([^"]+)"')
IMAGE = re.compile(r'<img src="([^"]+)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
RANK_FIELD = re.compile(r"^rank-(?P<item>[-\w]+)-(?P<position>\d+)$")
# A careful participant: the answer each attention question asks for.
ATTENTION_ANSWERS = {f"attention-{q.key}": q.expected for q in ATTENTION_QUESTIONS}


class SimulatedParticipant:
    def __init__(self, client, study, *, seed=0, query="", country="NG"):
        self.client = client
        self.study = study
        self.random = random.Random(seed)
        self.query = query
        self.country = country
        self.responses = []  # (url, response) for every request made
        self.submitted = []  # (page action, {field: rank}) as sent

    def get(self, url, **kwargs):
        response = self.client.get(url, **kwargs)
        self.responses.append((url, response))
        return response

    def post(self, url, data, **kwargs):
        response = self.client.post(url, data, **kwargs)
        self.responses.append((url, response))
        return response

    def html(self, response):
        return response.content.decode()

    def start(self):
        base = f"/s/{self.study.public_id}/"
        response = self.get(base + self.query)
        assert response.status_code == 200, response.status_code
        hidden = dict(
            re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', self.html(response))
        )
        hidden.pop("next", None)
        response = self.post(base, hidden)
        assert response.status_code == 302
        return response

    def consent(self):
        response = self.post(f"/s/{self.study.public_id}/consent/", {"agree": "yes"})
        assert response.status_code == 302, self.html(response)
        return response

    def profile(self):
        data = {
            "country": self.country,
            "age": "25-34",
            "gender": "other",
            "years_in_country": "15+",
        }
        response = self.post(f"/s/{self.study.public_id}/about-you/", data)
        assert response.status_code == 302, self.html(response)
        return response

    def practice(self):
        page = self.get(f"/s/{self.study.public_id}/practice/")
        data = self.answer(self.html(page))
        response = self.post(f"/s/{self.study.public_id}/practice/", data)
        assert response.status_code == 302, self.html(response)

    def answer(self, html):
        """Random permutations for every question, read from the select boxes."""
        fields = [name for _id, name in SELECT.findall(html)]
        by_item = {}
        for name in fields:
            by_item.setdefault(RANK_FIELD.match(name)["item"], []).append(name)
        data = {}
        for names in by_item.values():
            ranks = list(range(1, len(names) + 1))
            self.random.shuffle(ranks)
            data.update(dict(zip(names, map(str, ranks), strict=True)))
        return data

    def rank_pages(self, fetch_images=True):
        """Answer ranking pages until the study ends; returns the final response."""
        while True:
            response = self.get(f"/s/{self.study.public_id}/rank/")
            if response.status_code == 302:
                return response
            html = self.html(response)
            if fetch_images:
                for src in IMAGE.findall(html):
                    self.get(unescape(src))
            action = unescape(ACTION.search(html)[1])
            data = self.answer(html)
            for name in set(n for n, _v in ATTENTION.findall(html)):
                data[name] = ATTENTION_ANSWERS[name]
            data["page_ms"] = str(self.random.randint(2_000, 60_000))
            self.submitted.append((action, data))
            result = self.post(action, data)
            assert result.status_code == 302, self.html(result)
            if "/rank/" not in result["Location"]:
                return result

    def take_study(self, fetch_images=True):
        self.start()
        self.consent()
        self.profile()
        self.practice()
        return self.rank_pages(fetch_images=fetch_images)
