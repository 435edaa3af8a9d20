// Writes tests/fixtures/bpe/parity.jsonl: texts written for this project and the GPT-2 token ids the
// reference JavaScript encoder (npm gpt-3-encoder 1.1.4) gives them, one {"text", "ids"} object a line.
// tests/test_bpe_tokenizer.cpp checks that the C++ tokenizer gives the same ids for every line.
//
// Run by hand, never by the tests; the reference stays outside the repository:
//   npm install --prefix /tmp/bpe-ref gpt-3-encoder@1.1.4
//   GPT3_ENCODER=/tmp/bpe-ref/node_modules/gpt-3-encoder node scripts/make_bpe_fixture.js [output path]
'use strict';
const fs = require('fs');
const path = require('path');

const encoderPath = process.env.GPT3_ENCODER || 'gpt-3-encoder';
const reference = require(encoderPath);
const version = JSON.parse(fs.readFileSync(path.join(require.resolve(encoderPath), '..', 'package.json'))).version;
if (version !== '1.1.4') throw new Error(`expected gpt-3-encoder 1.1.4, found ${version} at ${encoderPath}`);
const out = process.argv[2] || path.join(__dirname, '..', 'tests', 'fixtures', 'bpe', 'parity.jsonl');

const texts = [];
const add = (...items) => texts.push(...items);

// Edge cases of the pre-tokeniser: empty input, whitespace runs and where their last character goes.
add('', ' ', '  ', '   ', '\t', '\n', '\r\n', '  \n\n  ', ' leading space', '  two leading spaces',
    'trailing space ', 'trailing spaces   ', 'tab\tseparated\tvalues\t', 'mixed \t \n whitespace\n\n\n',
    'line one\r\nline two\r\n\r\nline four\r\n', '\n\nstarts with newlines', 'ends with newlines\n\n',
    'a\u00A0b', 'non\u00A0breaking\u00A0\u00A0space', 'ideographic\u3000space', 'line\u2028separator',
    'em\u2003space and thin\u2009space', 'byte order mark\uFEFFinside', 'zero\u200Bwidth space is not a space',
    'next line\u0085is not a space in JS', 'vertical\u000Btab and form\u000Cfeed', '\u3000\u3000indented',
    ' \t \t x', 'x \t \t ', '    4 spaces then word', '\t\ttwo tabs then word', '  \n  x', 'a  b   c    d',
    ' ! ? .', '  !!', '\n!', '\t1', '  1', ' 1', '1 ', ' ', '\u00A0x', ' \u00A0x', '\u00A0 x');

// Contractions: the pattern lists them in lower case only and with the ASCII apostrophe.
add("it's", "IT'S", "It'S", "you're", "YOU'RE", "we've", "I'm", "I'M", "they'll", "THEY'LL", "he'd", "He'D",
    "don't", "DON'T", "can't", "won't", "shouldn't've", "y'all'd've", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d",
    "'sup", "'tis the season", "rock 'n' roll", "the '90s", "O'Neil's dog", "''", "'''s", "'x", "' s", "it 's",
    'it\u2019s', 'don\u2019t', 'we\u2019ve \u2018quoted\u2019', '\u201Cdouble curly\u201D', "''quoted''",
    "She said 'I'll go' and he'd said 'we're late', didn't he?", "it's's", "'ll've'd'm're't's",
    "l'amour d'été", "rock'n'roll", "can\"t", "jack's and jill's pail's handle's color",
    "'Sam and 'Tom met 'Mary, 'Dave and 'Lloyd", "THAT'SALL I'MOK WE'REDONE YOU'VEWON SHE'LLGO HE'DGO",
    "'sam 'tom 'mary 'dave 'lloyd 'really 'very", "'Really 'VERY 'LLama 'Ma 'De 'Te", "end'");

// Digits and numbers: \p{N} runs are pre-tokens of their own, so long runs and separators matter.
add('0', '7', '42', '123', '2024', '1234567890', '12345678901234567890123456789012345678901234567890',
    '3.14159265358979', '-273.15', '+1 (555) 010-9999', '1,000,000.00', '1e-9', '6.022e23', '0x1F600',
    '0b1010_1010', '007', 'v1.2.3-rc.4', '192.168.0.1:8080', '2024-03-15T09:30:00Z', '99.9%', '$1,299.99',
    '\u20AC12,50', '\u00BD + \u00BC = \u00BE', 'x\u00B2 + y\u00B2 = z\u00B2', '\u2162 \u216B \u2170',
    '\uFF10\uFF11\uFF12\uFF13', '\u0661\u0662\u0663 \u0967\u0968\u0969', '\u2460\u2461\u2462', 'a1b2c3', '1a2b3c',
    'COVID19 and MP3 and 4K', ' 12 34  56   78', '1 000 000', 'pi=3.14;e=2.71', '10/10', '3:45pm', '#1', '№5');

// ASCII punctuation runs.
add('!!!', '???', '...', '?!?!', '---', '***', '===', '<<<>>>', '()', '[]', '{}', '""', '@#$%^&*',
    ':-)', ';-P', '<3', '->', '=>', '::', '&&', '||', '!=', '==', '<=', '>=', '//', '/* */', '#!/bin/sh',
    '~/.config', 'a.b.c', 'a,b,c', 'x_y_z', '__init__', '...and then', 'wait...what?!', '(a)', '[b]', '{c}',
    '","', '"],"', "','", '],[', ' ,"', '.,"', '),"', '},"', '.","', "',\"", '["a","b","c"]', "['a','b']");
let printable = '';
for (let c = 0x20; c < 0x7f; c++) printable += String.fromCharCode(c);
add(printable, printable.split('').reverse().join(''), printable.split('').join(' '));

// Every byte value as a code point (C0 and C1 controls, DEL, Latin-1), alone and in runs.
let latin1 = '';
for (let c = 0; c < 0x100; c++) latin1 += String.fromCharCode(c);
add(latin1, latin1.slice(0, 32), latin1.slice(0x80, 0xa0), latin1.slice(0xa0));
for (let c = 0; c < 0x100; c += 17) add('[' + String.fromCharCode(c) + ']');

// English prose, written for this fixture.
add(
  'The lighthouse keeper climbed the spiral stairs every evening at dusk, counting the steps under his breath. ' +
  'There were one hundred and twelve of them, and he had never once lost count, not even on the night the storm ' +
  'took the roof off the boathouse. At the top he trimmed the wick, polished the great lens with a soft cloth, ' +
  'and waited for the first ship to round the headland.',
  'Mira kept a notebook of small observations: the heron that stood on one leg by the canal each Tuesday, the ' +
  'baker who whistled the same four notes while shaping loaves, the way rain smelled different in March than in ' +
  'October. She never wrote conclusions. "Conclusions," she liked to say, "are just observations that stopped ' +
  'paying attention."',
  'Our quarterly review found three issues. First, the build takes too long: a clean compile needs 14 minutes on ' +
  'the CI runners. Second, two tests are flaky (they depend on wall-clock time). Third, nobody owns the release ' +
  'checklist. We propose: (a) caching object files; (b) injecting a fake clock; (c) rotating ownership monthly.',
  'When the river froze, the whole village came out onto the ice. Children skated in wide, wobbling circles; ' +
  'their parents cut holes near the far bank and dropped lines for pike. By noon someone had lit a fire in an ' +
  'old oil drum, and the smell of roasting chestnuts drifted across the valley.',
  'Q: What did the compiler say to the programmer?\nA: "I\'m not angry, I\'m just disappointed that you ' +
  'forgot a semicolon... again."\n\nQ: Why don\'t they\'ve any friends?\nA: They\'d rather not say.',
  'Dear Sam,\n\nThanks for the seeds! The tomatoes are coming up nicely, though the basil sulks whenever the ' +
  'nights turn cold. I\'ve moved it indoors for now.\n\nSee you at the market on Saturday,\nJo\n',
  'ALL CAPS HEADLINE: LOCAL CAT ELECTED MAYOR, PROMISES MORE NAPS\nlowercase whisper: please keep it down\n' +
  'MiXeD CaSe FoR nO rEaSoN\nCamelCaseIdentifier snake_case_identifier kebab-case-identifier SCREAMING_SNAKE',
  'The recipe calls for 2 cups of flour, 1.5 teaspoons of salt, 3 eggs, and 250 ml of milk. Whisk until smooth, ' +
  'rest for 30 minutes, then cook on a hot pan for about 90 seconds per side. Makes 8 to 10 crepes.',
  'Footnotes[1] and citations (Smith et al., 2019; pp. 33-35) and URLs like https://example.com/path?q=1&r=two#frag ' +
  'and emails like first.last+tag@example.org should all survive a round trip.',
);

// Python with indentation.
add(`import math
from dataclasses import dataclass


@dataclass
class Circle:
    """A circle with a centre and a radius."""

    x: float
    y: float
    radius: float = 1.0

    def area(self) -> float:
        return math.pi * self.radius ** 2

    def contains(self, px: float, py: float) -> bool:
        dx, dy = px - self.x, py - self.y
        return dx * dx + dy * dy <= self.radius * self.radius


def fizzbuzz(n):
    for i in range(1, n + 1):
        if i % 15 == 0:
            print("FizzBuzz")
        elif i % 3 == 0:
            print("Fizz")
        elif i % 5 == 0:
            print('Buzz')
        else:
            print(i)


if __name__ == "__main__":
    c = Circle(0.0, 0.0, radius=2.5)
    print(f"area={c.area():.3f}", c.contains(1, 1))
    fizzbuzz(20)
`);
add('def f(x):\n\treturn x  # tab indent\n', 'for k, v in {"a": 1, "b": 2}.items():\n    print(k, v)  \n',
    'lambda xs: [x**2 for x in xs if x % 2 == 0]', "d = {'key': [1, 2, (3, 4)], \"other\": None}\n",
    '        deeply_indented = True\n            even_deeper = False\n');

// C++ with indentation.
add(`#include <iostream>
#include <vector>

namespace geometry {

// Sums the elements of a vector; returns 0 for an empty one.
template <typename T>
T sum(const std::vector<T>& values) {
  T total{};
  for (const auto& v : values) total += v;
  return total;
}

}  // namespace geometry

int main(int argc, char** argv) {
  std::vector<int> xs = {1, 2, 3, 4, 5};
  if (argc > 1 && std::string(argv[1]) == "--verbose") {
    std::cout << "size: " << xs.size() << '\\n';
  }
  auto* p = &xs[0];
  p->~int();  // not really
  std::cout << geometry::sum(xs) << std::endl;
  return 0;
}
`);
add('int x=0;x+=1;x<<=2;x>>=1;x^=0xFF;', 'std::map<std::string, std::vector<int>> m;',
    'if (a != b && (c || !d)) { return *ptr->next; }', '#define MAX(a, b) ((a) > (b) ? (a) : (b))\n',
    '\tswitch (c) {\n\t\tcase \'a\': break;\n\t\tdefault: ;\n\t}\n');

// Other formats.
add('{\n  "name": "demo",\n  "version": "0.1.0",\n  "tags": ["x", "y"],\n  "nested": {"a": [1, 2.5, null, true]}\n}\n',
    '$ ls -la ~/projects | grep -v node_modules > out.txt 2>&1 && echo "done"\n',
    '# Heading\n\n- item one\n- item **two**\n  - nested _item_\n\n```bash\nmake -j4\n```\n',
    '<div class="card"><p>Hello, <b>world</b>!</p><br/></div>',
    'SELECT id, name FROM users WHERE age >= 18 ORDER BY name;',
    'key1=value1\nkey2 = value two\n; comment\n[section]\n', '| a | b |\n|---|---|\n| 1 | 2 |\n');

// Accented Latin, combining marks and letters outside the BMP.
add('caf\u00E9 na\u00EFve r\u00E9sum\u00E9 fa\u00E7ade co\u00F6perate', 'cafe\u0301 nai\u0308ve re\u0301sume\u0301',
    'Ti\u1EBFng Vi\u1EC7t c\u00F3 d\u1EA5u', 'Tie\u0302\u0301ng Vie\u0323\u0302t (decomposed)',
    'Stra\u00DFe \u00D8resund \u00C5ngstr\u00F6m \u0141\u00F3d\u017A',
    'z\u0351\u0352\u0353a\u0354\u0355\u0356l\u0357\u0358g\u0359o', '\u01C5 \u00AA\u00BA \u02B0\u02B2 \uFB01ne',
    '\uD835\uDC00\uD835\uDC01\uD835\uDC02 math letters', '\uD840\uDC00\uD840\uDC01 rare CJK',
    'a\u0300\u0301\u0302\u0303\u0304',
    '\u0301 leading combining mark', 'e\u20DD enclosed');

// Non-Latin scripts, sentences written for this fixture.
add('नमस्ते, आप कैसे हैं? आज मौसम बहुत अच्छा है।',
    'मैं कल बाज़ार जाऊँगा और सब्ज़ियाँ खरीदूँगा। क्या तुम भी चलोगे?',
    '今天天气很好，我们去公园散步吧。你喜欢喝茶还是咖啡？我每天早上都喝一杯绿茶。',
    '私は毎朝六時に起きます。コーヒーを飲んでから、駅まで歩きます。カタカナとひらがなと漢字。',
    'مرحبا، كيف حالك اليوم؟ الكتاب على الطاولة.',
    'Привет, как дела? Сегодня мы идём в библиотеку, а завтра — на реку.',
    'Γεια σου, κόσμε! Η θάλασσα είναι ήρεμη σήμερα; αβγ ΔΩ',
    '안녕하세요! 저는 매일 아침 책을 읽습니다. 오늘은 비가 온다고 해요.',
    'שלום עולם', 'สวัสดีครับ', 'வணக்கம்', 'გამარჯობა',
    'mixed 中文 and English and हिंदी in one line', '日本語text混在');

// Emoji: single, with variation selectors, skin tones, ZWJ sequences, flags, keycaps.
add('\uD83D\uDE00', 'hello \uD83D\uDE00 world \uD83C\uDF0D!', '\u2764\uFE0F \u2764', '\uD83D\uDC4B\uD83C\uDFFD wave',
    '\uD83D\uDC68\u200D\uD83D\uDC69\u200D\uD83D\uDC67\u200D\uD83D\uDC66 family',
    '\uD83D\uDC69\uD83C\uDFFE\u200D\uD83D\uDCBB coder', '\uD83C\uDFF3\uFE0F\u200D\uD83C\uDF08 flag',
    '\uD83C\uDDEE\uD83C\uDDF3\uD83C\uDDEF\uD83C\uDDF5\uD83C\uDDEB\uD83C\uDDF7 flags',
    '1\uFE0F\u20E3 #\uFE0F\u20E3 keycaps',
    '\uD83D\uDE02\uD83D\uDE02\uD83D\uDE02\uD83D\uDE02', 'great job\uD83D\uDC4D\uD83D\uDC4D', ' \uD83D\uDD25lit',
    '\uD83E\uDD16 + \uD83E\uDDE0 = \uD83D\uDCA1', '\u2600\u2601\u2602\u2603 weather', '\uD83C\uDFFB\uD83C\uDFFF alone');

// Other symbols.
add('\u20AC \u00A3 \u00A5 \u20B9 \u20A9', '\u2192 \u21D2 \u2194 \u2200x \u2203y: x \u2264 y \u2227 y \u2260 0',
    '\u2026 \u2014 \u2013 \u00AB\u00BB \u00BF\u00A1', '\u00A9 2024 \u00AE \u2122 \u00B0C \u00B1',
    '\u2605\u2606\u2665\u2666');

// Long runs: one pre-token of hundreds of characters, each of the four kinds.
add('a'.repeat(300), 'ab'.repeat(150), 'x'.repeat(40) + ' ' + 'y'.repeat(40), '9'.repeat(400),
    '1234567890'.repeat(30), ' '.repeat(100) + 'end', '!'.repeat(200), '=-'.repeat(100), '\n'.repeat(50) + 'x',
    '\u4E00'.repeat(120), '\u0915\u094D\u0937'.repeat(60), '\uD83D\uDE00'.repeat(60), 'supercalifragilistic'.repeat(8));

// A larger mixed document built from the pieces above, so pre-token boundaries meet every kind of neighbour.
const mixed = [];
for (let i = 0; i < texts.length; i += 7) mixed.push(texts[i]);
add(mixed.join(' | '), mixed.join('\n'), mixed.join(''));

// All pairs of characters from a small alphabet covering each class and each contraction letter.
const alphabet = [' ', '\n', '\t', "'", 's', 'l', 'T', '1', '.', '\u00E9', '\u4E00', '\uD83D\uDE00', '\u00A0'];
for (const a of alphabet) {
  const row = [];
  for (const b of alphabet) for (const c of alphabet) row.push(a + b + c);
  add(row.join(''));
}

let characters = 0;
const lines = texts.map((text) => {
  const ids = reference.encode(text);
  if (!ids.every((id) => Number.isInteger(id))) {
    throw new Error(`reference gave a non-integer id for ${JSON.stringify(text)}`);
  }
  if (reference.decode(ids) !== text) throw new Error(`reference does not round-trip ${JSON.stringify(text)}`);
  characters += Array.from(text).length;
  return JSON.stringify({ text, ids });
});
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, lines.join('\n') + '\n');
console.log(`wrote ${out}: ${lines.length} lines, ${characters} code points`);
