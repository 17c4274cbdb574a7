"""Detection data made in code, its training targets, and the mAP@0.5 that scores against it.

Real detection sets cannot be downloaded here, so images of a few labelled shapes on noisy
backgrounds are drawn with numpy: the boxes are known exactly, and any seed gives held-out data.
Everything here is pure numpy so it can be tested without TensorFlow.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLASSES = ("rectangle", "ellipse", "triangle")
# Box deltas are divided by these so their targets are of order one (as in the Faster R-CNN code).
VARIANCES = np.array([0.1, 0.1, 0.2, 0.2], np.float32)


def _shape_mask(cls: int, yy: np.ndarray, xx: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    y0, x0, y1, x1 = box
    inside = (yy >= y0) & (yy < y1) & (xx >= x0) & (xx < x1)
    if cls == 0:  # rectangle
        return inside
    cy, cx, hh, hw = (y0 + y1) / 2, (x0 + x1) / 2, (y1 - y0) / 2, (x1 - x0) / 2
    if cls == 1:  # ellipse
        return ((yy - cy) / hh) ** 2 + ((xx - cx) / hw) ** 2 <= 1.0
    # triangle pointing up: apex at the top centre, base on the bottom edge
    return inside & (np.abs(xx - cx) <= (yy - y0) / (y1 - y0) * hw)


def generate_shapes(n: int, size: int = 128, seed: int = 0, max_objects: int = 3,
                    min_frac: float = 0.14, max_frac: float = 0.45
                    ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """`n` RGB images in [0, 1] with 1..max_objects shapes each, and their boxes and labels.

    Boxes are [ymin, xmin, ymax, xmax] normalized to [0, 1] (the layout tf.image uses); labels
    index CLASSES. Shapes overlap little (IoU <= 0.2) so every box is visibly its own object.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    images = np.empty((n, size, size, 3), np.float32)
    all_boxes: list[np.ndarray] = []
    all_labels: list[np.ndarray] = []
    for i in range(n):
        bg = rng.uniform(0.0, 1.0, 3).astype(np.float32)
        gy, gx = rng.uniform(-0.15, 0.15, 2)
        img = bg + (gy * (yy / size - 0.5) + gx * (xx / size - 0.5))[..., None]
        boxes: list[list[float]] = []
        labels: list[int] = []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            for _attempt in range(20):
                h, w = rng.uniform(min_frac, max_frac, 2) * size
                y0, x0 = rng.uniform(0, size - h), rng.uniform(0, size - w)
                box = np.array([[y0, x0, y0 + h, x0 + w]], np.float32) / size
                if not boxes or iou_matrix(box, np.array(boxes, np.float32)).max() <= 0.2:
                    break
            else:
                continue
            while True:  # a colour that stands out from the background
                colour = rng.uniform(0.0, 1.0, 3).astype(np.float32)
                if np.abs(colour - bg).mean() > 0.3:
                    break
            cls = int(rng.integers(len(CLASSES)))
            img[_shape_mask(cls, yy, xx, (y0, x0, y0 + h, x0 + w))] = colour
            boxes.append(box[0].tolist())
            labels.append(cls)
        img += rng.normal(0.0, 0.04, img.shape).astype(np.float32)
        images[i] = np.clip(img, 0.0, 1.0)
        all_boxes.append(np.array(boxes, np.float32).reshape(-1, 4))
        all_labels.append(np.array(labels, np.int32))
    return images, all_boxes, all_labels


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` [N, 4] with every box in `b` [M, 4] (y1, x1, y2, x2)."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    y1 = np.maximum(a[:, None, 0], b[None, :, 0])
    x1 = np.maximum(a[:, None, 1], b[None, :, 1])
    y2 = np.minimum(a[:, None, 2], b[None, :, 2])
    x2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(y2 - y1, 0, None) * np.clip(x2 - x1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def make_anchors(image_size: int, feature_size: int, scales: Sequence[float],
                 ratios: Sequence[float]) -> np.ndarray:
    """Anchors [feature_size * feature_size * A, 4], normalized, ordered (row, column, anchor).

    `scales` are anchor sides in input pixels, `ratios` height/width; the order matches a
    [1, H, W, A] objectness map reshaped to [H * W * A].
    """
    stride = image_size / feature_size
    centres = (np.arange(feature_size, dtype=np.float32) + 0.5) * stride
    shapes = np.array([(s * np.sqrt(r), s / np.sqrt(r)) for s in scales for r in ratios], np.float32)
    cy, cx = np.meshgrid(centres, centres, indexing="ij")
    c = np.stack([cy, cx], -1)[:, :, None, :]  # H, W, 1, 2
    half = shapes[None, None, :, :] / 2  # 1, 1, A, 2
    anchors = np.concatenate([c - half, c + half], -1) / image_size
    return anchors.reshape(-1, 4).astype(np.float32)


def encode(boxes: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Regression targets of `boxes` relative to reference boxes (anchors or proposals)."""
    rh, rw = refs[:, 2] - refs[:, 0], refs[:, 3] - refs[:, 1]
    rcy, rcx = refs[:, 0] + rh / 2, refs[:, 1] + rw / 2
    h, w = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    cy, cx = boxes[:, 0] + h / 2, boxes[:, 1] + w / 2
    t = np.stack([(cy - rcy) / rh, (cx - rcx) / rw, np.log(h / rh), np.log(w / rw)], -1)
    return (t / VARIANCES).astype(np.float32)


def decode(deltas: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Inverse of `encode` (numpy twin of the TensorFlow decoding in the model)."""
    d = deltas * VARIANCES
    rh, rw = refs[:, 2] - refs[:, 0], refs[:, 3] - refs[:, 1]
    cy, cx = refs[:, 0] + rh / 2 + d[:, 0] * rh, refs[:, 1] + rw / 2 + d[:, 1] * rw
    h, w = rh * np.exp(d[:, 2]), rw * np.exp(d[:, 3])
    return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], -1).astype(np.float32)


def rpn_targets(anchors: np.ndarray, gt: np.ndarray, rng: np.random.Generator, sample: int = 256,
                pos_iou: float = 0.5, neg_iou: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Objectness labels (1, 0, -1 = ignored) and [A, 5] box targets (4 deltas + positive mask).

    Positive: IoU >= pos_iou or the best anchor of a box; negative: IoU < neg_iou. At most
    `sample` anchors count per image, half of them positive at most, as in Ren et al. 2015.
    """
    labels = np.full(len(anchors), -1, np.float32)
    box_t = np.zeros((len(anchors), 5), np.float32)
    if len(gt) == 0:
        labels[rng.choice(len(anchors), sample, replace=False)] = 0
        return labels, box_t
    iou = iou_matrix(anchors, gt)
    best = iou.max(1)
    labels[best < neg_iou] = 0
    labels[best >= pos_iou] = 1
    labels[iou.argmax(0)] = 1
    pos = np.flatnonzero(labels == 1)
    if len(pos) > sample // 2:
        labels[rng.choice(pos, len(pos) - sample // 2, replace=False)] = -1
        pos = np.flatnonzero(labels == 1)
    neg = np.flatnonzero(labels == 0)
    if len(neg) > sample - len(pos):
        labels[rng.choice(neg, len(neg) - (sample - len(pos)), replace=False)] = -1
    matched = gt[iou[pos].argmax(1)]
    box_t[pos, :4] = encode(matched, anchors[pos])
    box_t[pos, 4] = 1.0
    return labels, box_t


def head_targets(gt: np.ndarray, gt_labels: np.ndarray, rng: np.random.Generator, rois: int = 32,
                 fg_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regions of interest for the detection head with class labels (0 = background) and box targets.

    Candidates are the boxes themselves, jittered copies and random boxes (a stand-in for the
    RPN's proposals); IoU >= 0.5 with a box makes a foreground ROI, as in Fast R-CNN.
    """
    corner = rng.uniform(0, 1, (48, 2))
    cands = [np.concatenate([corner, corner + rng.uniform(0.08, 0.5, (48, 2))], 1)]
    if len(gt):
        jit = np.repeat(gt, 16, 0)
        h, w = jit[:, 2] - jit[:, 0], jit[:, 3] - jit[:, 1]
        noise = rng.normal(0, 0.15, (len(jit), 4)) * np.stack([h, w, h, w], 1)
        cands += [gt, jit + noise]
    cand = np.clip(np.concatenate(cands).astype(np.float32), 0.0, 1.0)
    cand = cand[((cand[:, 2] - cand[:, 0]) > 0.02) & ((cand[:, 3] - cand[:, 1]) > 0.02)]
    iou = iou_matrix(cand, gt) if len(gt) else np.zeros((len(cand), 1), np.float32)
    best, arg = iou.max(1), iou.argmax(1)
    fg, bg = np.flatnonzero(best >= 0.5), np.flatnonzero(best < 0.5)
    n_fg = min(len(fg), int(rois * fg_fraction))
    pick = np.concatenate([rng.choice(fg, n_fg, replace=False),
                           rng.choice(bg, rois - n_fg, replace=len(bg) < rois - n_fg)])
    out = cand[pick]
    labels = np.where(best[pick] >= 0.5, gt_labels[arg[pick]] + 1 if len(gt) else 0, 0).astype(np.int32)
    box_t = np.zeros((rois, 5), np.float32)
    is_fg = labels > 0
    if is_fg.any():
        box_t[is_fg, :4] = encode(gt[arg[pick][is_fg]], out[is_fg])
        box_t[is_fg, 4] = 1.0
    return out, labels, box_t


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC 2010+ all-point interpolated AP: area under the precision envelope."""
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def mean_average_precision(pred_boxes: Sequence[np.ndarray], pred_scores: Sequence[np.ndarray],
                           pred_classes: Sequence[np.ndarray], gt_boxes: Sequence[np.ndarray],
                           gt_classes: Sequence[np.ndarray], iou: float = 0.5) -> float:
    """mAP over classes that have ground truth; each argument holds one array per image.

    VOC matching: detections of a class are taken by falling score; each goes to the ground-truth
    box it overlaps most, and is a true positive only if that IoU >= `iou` and the box is not
    already taken (so duplicates are false positives).
    """
    if not (len(pred_boxes) == len(pred_scores) == len(pred_classes) == len(gt_boxes) == len(gt_classes)):
        raise ValueError("mean_average_precision: one array per image is needed in every argument")
    classes = sorted({int(c) for g in gt_classes for c in np.asarray(g).ravel()})
    aps = []
    for cls in classes:
        dets: list[tuple[float, int, np.ndarray]] = []
        gts: dict[int, np.ndarray] = {}
        n_gt = 0
        for img, (pb, ps, pc, gb, gc) in enumerate(zip(pred_boxes, pred_scores, pred_classes, gt_boxes, gt_classes)):
            pb, ps, pc = np.asarray(pb).reshape(-1, 4), np.asarray(ps).ravel(), np.asarray(pc).ravel()
            gb, gc = np.asarray(gb).reshape(-1, 4), np.asarray(gc).ravel()
            gts[img] = gb[gc.astype(int) == cls]
            n_gt += len(gts[img])
            for box, score in zip(pb[pc.astype(int) == cls], ps[pc.astype(int) == cls]):
                dets.append((float(score), img, box))
        dets.sort(key=lambda d: -d[0])
        taken = {img: np.zeros(len(g), bool) for img, g in gts.items()}
        tp = np.zeros(len(dets))
        for k, (_, img, box) in enumerate(dets):
            if len(gts[img]) == 0:
                continue
            overlaps = iou_matrix(box[None], gts[img])[0]
            j = int(overlaps.argmax())
            if overlaps[j] >= iou and not taken[img][j]:
                taken[img][j] = True
                tp[k] = 1.0
        ctp = np.cumsum(tp)
        recall = ctp / n_gt
        precision = ctp / np.arange(1, len(dets) + 1)
        aps.append(average_precision(recall, precision))
    return float(np.mean(aps)) if aps else 0.0


def matched_detections(pred_boxes: Sequence[np.ndarray], pred_scores: Sequence[np.ndarray],
                       pred_classes: Sequence[np.ndarray], gt_boxes: Sequence[np.ndarray],
                       gt_classes: Sequence[np.ndarray], iou: float = 0.5
                       ) -> list[tuple[np.ndarray, dict[int, int]]]:
    """Per image: its detections as rows (class, score, 1 = true positive) and its ground-truth count
    per class. VOC matching only ever looks inside one image, in falling score order, so these rows
    are the same as `mean_average_precision` finds; `map_of_matched` recomputes mAP from them on any
    resample of the images (a paired bootstrap without running the model again)."""
    out: list[tuple[np.ndarray, dict[int, int]]] = []
    for pb, ps, pc, gb, gc in zip(pred_boxes, pred_scores, pred_classes, gt_boxes, gt_classes):
        pb, ps, pc = np.asarray(pb).reshape(-1, 4), np.asarray(ps, np.float64).ravel(), np.asarray(pc).ravel()
        gb, gc = np.asarray(gb).reshape(-1, 4), np.asarray(gc).ravel().astype(int)
        rows = np.zeros((len(ps), 3))
        rows[:, 0], rows[:, 1] = pc.astype(int), ps
        for cls in np.unique(pc.astype(int)):
            gts = gb[gc == cls]
            taken = np.zeros(len(gts), bool)
            mine = np.flatnonzero(pc.astype(int) == cls)
            for k in mine[np.argsort(-ps[mine], kind="stable")]:
                if len(gts) == 0:
                    continue
                overlaps = iou_matrix(pb[k][None], gts)[0]
                j = int(overlaps.argmax())
                if overlaps[j] >= iou and not taken[j]:
                    taken[j] = True
                    rows[k, 2] = 1.0
        counts = {int(c): int(n) for c, n in zip(*np.unique(gc, return_counts=True))}
        out.append((rows, counts))
    return out


class MatchedIndex:
    """`matched_detections`' rows sorted once per class, so the mAP of any resample of the images is a
    few weighted cumulative sums (a paired bootstrap of 2000 resamples on 500 images in about a second).
    An image drawn k times counts its detections and its ground truth k times; its copies sit next to
    each other in score order, so weighting a row by k gives the same precision envelope as k rows."""

    def __init__(self, matched: Sequence[tuple[np.ndarray, dict[int, int]]]) -> None:
        self.images = len(matched)
        classes = sorted({c for _, g in matched for c in g} | {int(c) for r, _ in matched for c in r[:, 0]})
        self.gt = np.zeros((self.images, len(classes)))
        col = {c: j for j, c in enumerate(classes)}
        for i, (_, g) in enumerate(matched):
            for c, n in g.items():
                self.gt[i, col[int(c)]] = n
        rows = [np.column_stack([np.asarray(r, np.float64).reshape(-1, 3), np.full(len(r), i)])
                for i, (r, _) in enumerate(matched)]
        allrows = np.concatenate(rows) if rows else np.zeros((0, 4))
        self.per_class = []
        for c in classes:
            mine = allrows[allrows[:, 0] == c]
            mine = mine[np.argsort(-mine[:, 1], kind="stable")]
            self.per_class.append((mine[:, 3].astype(int), mine[:, 2]))

    def map(self, indices: Sequence[int] | np.ndarray | None = None) -> float:
        w = (np.ones(self.images) if indices is None
             else np.bincount(np.asarray(indices, dtype=int), minlength=self.images).astype(np.float64))
        n_gt = w @ self.gt
        aps = []
        for j, (img, tp) in enumerate(self.per_class):
            if n_gt[j] <= 0:
                continue
            ww = w[img]
            keep = ww > 0
            ctp, cdet = np.cumsum(ww * tp)[keep], np.cumsum(ww)[keep]
            aps.append(average_precision(ctp / n_gt[j], ctp / cdet))
        return float(np.mean(aps)) if aps else 0.0


    def map_many(self, indices: np.ndarray) -> np.ndarray:
        """`map` of every row of a (resamples x images) index matrix at once (the same values)."""
        idx = np.asarray(indices, dtype=int)
        flat = (idx + np.arange(idx.shape[0])[:, None] * self.images).ravel()
        w = np.bincount(flat, minlength=idx.shape[0] * self.images).reshape(idx.shape[0], self.images).astype(float)
        n_gt = w @ self.gt  # resamples x classes
        total = np.zeros(idx.shape[0])
        count = np.zeros(idx.shape[0])
        for j, (img, tp) in enumerate(self.per_class):
            has = n_gt[:, j] > 0
            if not has.any():
                continue
            ww = w[:, img]
            ctp, cdet = np.cumsum(ww * tp, axis=1), np.cumsum(ww, axis=1)
            recall = ctp / np.where(has, n_gt[:, j], 1.0)[:, None]
            precision = np.divide(ctp, cdet, out=np.zeros_like(ctp), where=cdet > 0)
            zeros, ones = np.zeros((len(ww), 1)), np.ones((len(ww), 1))
            r = np.concatenate([zeros, recall, ones], 1)
            p = np.concatenate([zeros, precision, zeros], 1)
            p = np.maximum.accumulate(p[:, ::-1], axis=1)[:, ::-1]
            ap = np.sum((r[:, 1:] - r[:, :-1]) * p[:, 1:], axis=1)
            total += np.where(has, ap, 0.0)
            count += has
        return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def map_of_matched(matched: Sequence[tuple[np.ndarray, dict[int, int]]],
                   indices: Sequence[int] | np.ndarray | None = None) -> float:
    """mAP of the images at `indices` (repeats count again) from `matched_detections`' rows."""
    return MatchedIndex(matched).map(indices)
