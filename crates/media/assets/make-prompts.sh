#!/usr/bin/env bash
# Regenerates hotline's shipped prompts and hold music.
#
# Requires Debian packages: espeak-ng sox   (apt-get install -y espeak-ng sox)
# Output: assets/prompts/{en,zh}/*.wav and assets/music/hold.wav,
#         all 8 kHz, mono, 16-bit signed PCM WAV.
set -euo pipefail
cd "$(dirname "$0")"
OUT=prompts
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT/en" "$OUT/zh" music

# say LANG NAME TEXT
say() {
  local lang=$1 name=$2 text=$3 voice speed
  if [ "$lang" = en ]; then voice=en-us; speed=175; else voice=cmn; speed=185; fi
  espeak-ng -v "$voice" -s "$speed" -a 120 -w "$TMP/raw.wav" "$text"
  # 8 kHz mono 16-bit; trim leading/trailing silence; short pad at the end;
  # -0.5 dB headroom so the G.711 encoders never clip.
  sox "$TMP/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$OUT/$lang/$name.wav" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0 0.08 gain -n -1
}

# ---- English ----
say en welcome "Welcome to the bank hotline."
say en menu "For accounts, press 1. For cards, press 2. For complaints, press 9. For anything else, press 0."
say en invalid "Sorry, that is not a valid choice."
say en please_hold "Please hold, and the next available agent will answer."
say en you_are_number "You are number"
say en in_queue "in the queue."
say en wait_about "Your estimated wait is about"
say en minute "minute."
say en minutes "minutes."
say en second "second."
say en seconds "seconds."
say en and "and"
say en callback_offer "Press 1 to be called back, keeping your place in the queue."
say en callback_confirmed "Thank you. We will call you back, and you keep your place."
say en goodbye "Thank you for calling. Goodbye."
say en survey "Please rate our service from 1 to 5."
say en fault "We are experiencing a technical problem. Please try again later."
say en abusive_end "This call is being ended because of abusive language. Goodbye."
say en voicemail "Please leave a message after the tone, then hang up."
say en outbound_abandoned "The bank hotline called you. Sorry, no one is free now. Please call us on 9 5 5 8 8."
say en outbound_message "A message from the bank hotline: please call us on 9 5 5 8 8."
say en dnc_confirmed "You will not be called by us again. Goodbye."
say en dnc_offer "If you do not want us to call you again, press 9."
en_words=(zero one two three four five six seven eight nine ten eleven twelve thirteen \
  fourteen fifteen sixteen seventeen eighteen nineteen twenty)
for i in $(seq 0 20); do say en "num_$i" "${en_words[$i]}"; done
tens=(x x x thirty forty fifty sixty seventy eighty ninety)
for t in 3 4 5 6 7 8 9; do say en "num_${t}0" "${tens[$t]}"; done
say en hundred "hundred"

# ---- Mandarin ----
say zh welcome "欢迎致电银行客服热线。"
say zh menu "账户业务请按1，银行卡业务请按2，投诉请按9，其他业务请按0。"
say zh invalid "对不起，您的选择无效。"
say zh please_hold "请稍候，我们将尽快为您接通客服代表。"
say zh you_are_number "您现在排在第"
say zh in_queue "位。"
say zh wait_about "预计等待时间大约"
say zh minute "分钟。"
say zh minutes "分钟。"
say zh second "秒。"
say zh seconds "秒。"
say zh and "零"
say zh callback_offer "按1，我们将给您回电，并为您保留排队位置。"
say zh callback_confirmed "谢谢，我们会给您回电，您的排队位置将被保留。"
say zh goodbye "感谢您的来电，再见。"
say zh survey "请为我们的服务打分，从1分到5分。"
say zh fault "我们遇到了技术问题，请稍后再拨。"
say zh abusive_end "由于通话中出现辱骂言语，本次通话即将结束。再见。"
say zh voicemail "请在提示音后留言，然后挂机。"
say zh outbound_abandoned "银行客服热线来电，抱歉现在无人接听，请回电95588。"
say zh outbound_message "银行客服热线留言：请回电95588。"
say zh dnc_confirmed "我们以后不会再给您打电话。再见。"
say zh dnc_offer "如果您不希望我们再给您打电话，请按9。"
zh_words=(零 一 二 三 四 五 六 七 八 九 十 十一 十二 十三 十四 十五 十六 十七 十八 十九 二十)
for i in $(seq 0 20); do say zh "num_$i" "${zh_words[$i]}"; done
say zh hundred "百"
say zh liang "两"

# ---- Hold music: a soft plucked I-V-vi-IV arpeggio with a little reverb, ~16 s ----
n=0
for chord in "C4 E4 G4 C5" "G3 B3 D4 G4" "A3 C4 E4 A4" "F3 A3 C4 F4"; do
  for rep in 1 2; do
    for note in $chord; do
      sox -n -r 8000 -c 1 -b 16 "$TMP/n$(printf %03d $n).wav" synth 0.5 pluck "$note" fade 0 0.5 0.3 gain -12
      n=$((n + 1))
    done
  done
done
sox "$TMP"/n*.wav "$TMP/music.wav"
sox "$TMP/music.wav" -r 8000 -c 1 -b 16 -e signed-integer music/hold.wav reverb 30 gain -n -3
ls -l "$OUT"/en "$OUT"/zh music | head -5
du -sh "$OUT" music
