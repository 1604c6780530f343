"""Toy models for tests, notebook examples and benchmarks (not fcot's API): a word-level tokenizer trained on the spot,
and a tiny GPT-2 overfit on four Fine-tune-CoT samples."""
from typing import Iterable, Sequence
from fcot.curate import format_prompt

def tiny_tokenizer(texts: Iterable[str], specials: Sequence[str] = ('<pad>', '<eos>', '<unk>'), eos: str = '<eos>'):
    "A small word-level tokenizer trained on `texts` (for tests and demos; splits on spaces, keeps punctuation as tokens)."
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.WordLevel(unk_token='<unk>'))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior='contiguous')])
    tok.decoder = decoders.WordPiece(prefix='##', cleanup=False)   # joins tokens with spaces
    tok.train_from_iterator(list(texts), trainers.WordLevelTrainer(special_tokens=list(specials)))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token='<pad>', eos_token=eos, unk_token='<unk>')

def toy_samples():
    return [('Tom has 3 apples and buys 5 more . How many apples ?', 'Tom has 3 . He buys 5 . 3 + 5 = 8 .', '8'),
            ('Ann has 9 pens and loses 2 . How many pens ?', '9 - 2 = 7 .', '7'),
            ('Bob reads 4 pages a day for 3 days . How many pages ?', 'Each day 4 pages . 3 days . 4 * 3 = 12 . So 12 pages .', '12'),
            ('A box holds 6 eggs . How many eggs in 2 boxes ?', '6 * 2 = 12 .', '12')]

def train_toy_decoder(steps: int = 150, seed: int = 0):
    "A tiny GPT-2 overfit on four Fine-tune-CoT samples, and its tokenizer (for tests and demos)."
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    from fcot.curate import format_completion
    torch.manual_seed(seed)
    data = [(format_prompt(q), format_completion(a, r)) for q, r, a in toy_samples()]
    tok = tiny_tokenizer([p + c for p, c in data] + ['END -->'])
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=64, n_layer=2, n_head=2,
                                       bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    seqs = [(tok(p)['input_ids'], tok(c)['input_ids'] + [tok.eos_token_id]) for p, c in data]
    L = max(len(p) + len(c) for p, c in seqs)
    x = torch.full((len(seqs), L), tok.pad_token_id); y = torch.full((len(seqs), L), -100)
    for i, (p, c) in enumerate(seqs):
        x[i, :len(p)+len(c)] = torch.tensor(p + c); y[i, len(p):len(p)+len(c)] = torch.tensor(c)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=x, attention_mask=(x != tok.pad_token_id).long(), labels=y).loss
        opt.zero_grad(); loss.backward(); opt.step()
    return model.eval(), tok


def greedy_gap(model, rows) -> float:
    """For `rows` of (prompt ids, attention mask, new tokens) that a greedy decoding chose, the largest shortfall of a chosen
    token's logit from the largest logit at its place, by the model's own forward over each row and its new tokens
    (positions from the mask): 0 for an exact greedy decoding, small where bf16 rounded a near-tie the other way."""
    import torch
    worst = 0.
    for ids, mask, new in rows:
        seq, mk = torch.cat([ids, torch.tensor(new)]), torch.cat([mask, torch.ones(len(new), dtype=mask.dtype)])
        with torch.inference_mode():
            lg = model(input_ids=seq[None], attention_mask=mk[None], position_ids=(mk.cumsum(-1) - 1).clamp(min=0)[None]).logits[0].float()
        lg = lg[len(ids) - 1:len(seq) - 1]
        worst = max(worst, (lg.max(-1).values - lg[torch.arange(len(new)), torch.tensor(new)]).max().item())
    return worst
