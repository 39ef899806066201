"""Build a tiny random-weight Qwen2 chat model, offline and deterministically, for tests.

    python scripts/tiny_chat.py OUT_DIR

The folder loads with `transformers.AutoModelForCausalLM.from_pretrained` and with vLLM (head
dimension 64, as vLLM on CPU needs). Its tokenizer is a byte-level BPE trained on the spot on a
small English + Chinese corpus, with a ChatML chat template; `<|im_end|>` ends a turn.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenizers import Tokenizer

IM_START, IM_END, END_OF_TEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
VOCAB_SIZE = 1000
SEED = 1234

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_CORPUS = [
    "You are a helpful assistant for online shops.",
    "Write a short product description for a stainless steel water bottle.",
    "This lightweight backpack keeps your laptop safe and your shoulders comfortable.",
    "Free shipping on all orders over fifty dollars. Returns are accepted within thirty days.",
    "The capital of France is Paris. The capital of Japan is Tokyo.",
    "Translate the following text into Chinese, Spanish, German and French.",
    "Our wireless earbuds deliver deep bass, clear calls and eight hours of battery life.",
    "Hello! How can I help you today? Please tell me more about your product.",
    "Keywords: waterproof, durable, eco-friendly, gift, best seller, limited offer.",
    "The quick brown fox jumps over the lazy dog 0123456789 times.",
    "Customers love the soft cotton fabric, the modern design and the low price.",
    "这款不锈钢保温杯可以保温十二小时，轻便耐用，适合户外旅行。",
    "全场满五十美元包邮，三十天内无理由退货。",
    "我们的无线耳机音质清晰，低音浑厚，续航长达八小时。",
    "这款背包轻巧防水，可以放下十五寸笔记本电脑。",
    "欢迎光临本店！请问有什么可以帮您？",
    "纯棉面料，柔软透气，设计简约时尚，是送礼的最佳选择。",
    "法国的首都是巴黎，日本的首都是东京。",
]


def _train_tokenizer() -> Tokenizer:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=[END_OF_TEXT, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Chat-formatted turns too, so the role names and newlines get merges of their own.
    chats = [
        f"{IM_START}user\n{a}{IM_END}\n{IM_START}assistant\n{b}{IM_END}"
        for a, b in zip(_CORPUS, _CORPUS[1:] + _CORPUS[:1], strict=True)
    ]
    tokenizer.train_from_iterator(_CORPUS * 4 + chats, trainer=trainer)
    return tokenizer


def _is_built(out_dir: Path) -> bool:
    names = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json")
    return all((out_dir / name).is_file() for name in names)


def build_tiny_chat_model(out_dir: Path) -> Path:
    """Write the tiny model to `out_dir` (skipped when already there); returns `out_dir`."""
    out_dir = Path(out_dir)
    if _is_built(out_dir):
        return out_dir

    import torch
    from transformers import (
        GenerationConfig,
        PreTrainedTokenizerFast,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(),
        eos_token=IM_END,
        pad_token=END_OF_TEXT,
        chat_template=CHATML_TEMPLATE,
    )
    vocab = tokenizer.get_vocab()
    im_end, end_of_text = vocab[IM_END], vocab[END_OF_TEXT]
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        # Wider than the usual 0.02 so that greedy decoding wanders instead of repeating one token.
        initializer_range=0.1,
        bos_token_id=end_of_text,
        eos_token_id=im_end,
        pad_token_id=end_of_text,
        dtype="float32",
    )
    torch.manual_seed(SEED)
    model = Qwen2ForCausalLM(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=end_of_text, eos_token_id=[im_end, end_of_text], pad_token_id=end_of_text
    )

    # Build next to the target and rename, so an interrupted build never looks finished.
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    partial.rename(out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    print(build_tiny_chat_model(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
